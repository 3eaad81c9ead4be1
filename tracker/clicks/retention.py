"""Raw clicks kept `TRACKER_CLICK_RETENTION_DAYS` and no longer; on PostgreSQL, the monthly
partitions of `clicks` that make dropping them cheap.

Rollups, orders and their attribution stay: reports over old periods still
answer from `click_days`, and only what needs a raw click (referrer, device,
browser, os and country groupings, reports in another time zone) says that
its period is past retention (reports/service.py).

On PostgreSQL `clicks` is partitioned by month of `clicked_at` (UTC). The
writer makes the partition of a month before it writes the month's first
click; retention detaches and drops whole months CONCURRENTLY, which waits
for the queries that read them instead of blocking them, and deletes the
rest of the horizon's month in small batches. On SQLite every old click goes
in small batches, each a short transaction of its own, so that the click
writer and reports never wait long behind it. Every host's writer runs
retention; the work is the same whoever does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from tracker.clock import from_unix_micros, utcnow
from tracker.db.driver import Connection, Database, sqlite_time
from tracker.db.names import CLICK_PARTITION

log = logging.getLogger(__name__)

DELETE_BATCH = 5000
PAUSE_SECONDS = 0.05  # between two batches: the writer's transactions go first
EVERY_SECONDS = 3600.0
MONTHS_AHEAD = 2  # partitions made ahead of need, so that a month's first click finds one
_LOCK = 0x7472616B  # pg advisory lock: one host at a time makes partitions

_known: weakref.WeakKeyDictionary[Database, set[date]] = weakref.WeakKeyDictionary()


def partition_name(month: date) -> str:
    return f"clicks_y{month.year}m{month.month:02d}"


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _start(month: date) -> datetime:
    return datetime.combine(month, time(), UTC)


def months_between(first: date, last: date) -> list[date]:
    months, month = [], _month(first)
    while month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def months_of(clicked_at_us: Iterable[int]) -> list[date]:
    """The months a batch of clicks falls in."""
    stamps = list(clicked_at_us)
    if not stamps:
        return []
    return months_between(
        from_unix_micros(min(stamps)).date(), from_unix_micros(max(stamps)).date()
    )


def create_partition(month: date) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF clicks"
        f" FOR VALUES FROM ('{_start(month).isoformat()}') TO"
        f" ('{_start(_next_month(month)).isoformat()}')"
    )


async def ensure_partitions(database: Database, months: Iterable[date]) -> None:
    """Make the partitions of ``months`` that do not exist yet (PostgreSQL), with the next
    MONTHS_AHEAD; a short transaction of its own, before the clicks' one."""
    wanted = set(months)
    known = _known.get(database)
    # A past month may have been dropped by another host's retention since: asked again.
    if known is None or any(month < _month(utcnow().date()) for month in wanted):
        async with database.connect() as connection:
            known = _known[database] = await _existing(connection)
    if wanted <= known:
        return
    wanted |= set(months_between(max(wanted), _add_months(max(wanted), MONTHS_AHEAD)))
    async with database.begin() as connection:
        await connection.execute("SELECT pg_advisory_xact_lock($1)", [_LOCK])
        known |= await _existing(connection)
        for month in sorted(wanted - known):
            await connection.execute(create_partition(month))
            log.info("partition %s made", partition_name(month))
    known |= wanted


def _add_months(month: date, count: int) -> date:
    for _ in range(count):
        month = _next_month(month)
    return month


async def _existing(connection: Connection) -> set[date]:
    rows = await connection.fetch(
        "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid"
        " JOIN pg_class parent ON parent.oid = inhparent WHERE parent.relname = 'clicks'"
    )
    found = set()
    for (name,) in rows:
        matched = CLICK_PARTITION.match(name)
        if matched:
            found.add(date(int(matched[1]), int(matched[2]), 1))
    return found


def horizon(days: int, now: datetime | None = None) -> datetime:
    """The first instant retention keeps: the start of the UTC day ``days`` days ago."""
    today = (now or utcnow()).astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days), time(), UTC)


async def prune(
    database: Database,
    days: int,
    now: datetime | None = None,
    writing: asyncio.Lock | None = None,
) -> int:
    """Remove the raw clicks older than ``days`` days; how many went (dropped partitions
    counted by their rows).

    ``writing``, the click writer's lock, keeps whole months from being dropped between a
    batch making its month's partition and inserting into it.
    """
    before = horizon(days, now)
    removed = 0
    if database.postgres:
        async with writing or contextlib.nullcontext():
            removed += await _drop_old_partitions(database, before)
        victims = (
            "DELETE FROM clicks WHERE (id, clicked_at) IN (SELECT id, clicked_at FROM clicks"
            " WHERE clicked_at < $1 LIMIT $2)"
        )
        params: list[object] = [before, DELETE_BATCH]
    else:
        victims = (
            "DELETE FROM clicks WHERE rowid IN (SELECT rowid FROM clicks"
            " WHERE clicked_at < ? LIMIT ?)"
        )
        params = [sqlite_time(before), DELETE_BATCH]
    while True:
        async with database.begin() as connection:
            deleted = await connection.execute(victims, params)
        removed += deleted
        if deleted < DELETE_BATCH:
            return removed
        await asyncio.sleep(PAUSE_SECONDS)


async def _drop_old_partitions(database: Database, before: datetime) -> int:
    dropped = 0
    # Outside any transaction: DETACH … CONCURRENTLY may not run in one.
    async with database.connect() as connection:
        for month in sorted(await _existing(connection)):
            if _start(_next_month(month)) > before:
                break
            name = partition_name(month)
            [(rows,)] = await connection.fetch(f"SELECT count(*) FROM {name}")
            await connection.execute(f"ALTER TABLE clicks DETACH PARTITION {name} CONCURRENTLY")
            await connection.execute(f"DROP TABLE {name}")
            known = _known.get(database)
            if known is not None:
                known.discard(month)
            dropped += rows
            log.info("partition %s dropped: %d clicks past retention", name, rows)
    return dropped


async def keep_pruning(database: Database, days: int, writing: asyncio.Lock) -> None:
    """`prune` now and every hour, until cancelled; a database away is tried again later."""
    while True:
        try:
            removed = await prune(database, days, writing=writing)
        except database.errors as exc:
            log.warning("click retention postponed: %s", exc)
        else:
            if removed:
                log.info("%d clicks older than %d days removed", removed, days)
        await asyncio.sleep(EVERY_SECONDS)
