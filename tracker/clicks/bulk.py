"""The writer's hot statements, in each driver's fastest form (db/batch.py).

The click batch and its visitor dedupe skip ids already stored and return the
ones they inserted, so the rollup counts each click exactly once; the rollup's
own upsert goes the same way (a batch spread over many links touches as many
rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

from tracker.clicks.record import ClickRecord
from tracker.clicks.visitor import (
    MAX_REFERRER,
    MAX_USER_AGENT,
    is_program,
    read_user_agent,
    referrer_host,
)
from tracker.clock import from_unix_micros
from tracker.db import batch
from tracker.db.driver import Connection
from tracker.links import utm_rollup

CLICK_COLUMNS = (
    "id", "link_id", "clicked_at", "referrer_host", "referrer", "user_agent", "device_type",
    "browser", "os", "is_bot", "visitor_hash", "country", "query", "bot_signal",
)  # fmt: skip
_PG_CLICK_TYPES = (
    "varchar", "bigint", "timestamptz", "varchar", "varchar", "varchar", "varchar",
    "varchar", "varchar", "boolean", "varchar", "varchar", "json", "varchar",
)  # fmt: skip
_NEW_IDS = "ON CONFLICT DO NOTHING RETURNING id"
_LINK_DAY = (("link_id", "bigint"), ("day", "date"))
_LINK_MONTH = (("link_id", "bigint"), ("month", "date"))
_NEW_VISITORS = "ON CONFLICT DO NOTHING RETURNING link_id, day"


@lru_cache(maxsize=1024)
def _sqlite_second(second: int) -> str:
    return from_unix_micros(second * 1_000_000).replace(tzinfo=None).isoformat(" ")


def _sqlite_time(micros: int) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (UTC, no offset, always microseconds)."""
    return f"{_sqlite_second(micros // 1_000_000)}.{micros % 1_000_000:06d}"


@lru_cache(maxsize=4096)
def _query_json(query: tuple[tuple[str, str], ...] | None) -> str | None:
    """A short URL's UTM pairs as the JSON object stored; a post's clicks repeat a few."""
    return json.dumps(dict(query)) if query else None


def click_rows(records: Iterable[ClickRecord], postgres: bool) -> list[tuple[Any, ...]]:
    """Journal records as the clicks' INSERT values, in CLICK_COLUMNS order.

    Straight from the records' plain values: building a datetime, a dict and a
    JSON text per click cost more than SQLite's own work on the row.
    """
    stamp = from_unix_micros if postgres else _sqlite_time
    rows = []
    for record in records:
        agent = record.user_agent
        parsed = read_user_agent(agent)
        referrer = record.referrer[:MAX_REFERRER] if record.referrer else None
        is_bot = record.is_bot
        if is_bot is None:
            is_bot = is_program(parsed, record.bot_signal)
        rows.append(
            (
                record.id, record.link_id, stamp(record.clicked_at_us), referrer_host(referrer),
                referrer, agent[:MAX_USER_AGENT] or None, parsed.device_type, parsed.browser,
                parsed.os, is_bot, record.visitor_hash, record.country, _query_json(record.query),
                record.bot_signal,
            )
        )  # fmt: skip
    return rows


_IS_BOT = CLICK_COLUMNS.index("is_bot")


def bot_flags(rows: Iterable[tuple[Any, ...]]) -> list[bool]:
    """Each row's is_bot, as `click_rows` decided it from the user agent or the redirect."""
    return [row[_IS_BOT] for row in rows]


async def insert_clicks(connection: Connection, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert click rows (as `click_rows` makes them); the ids that were new."""
    if not rows:
        return set()
    found = await batch.insert(connection, "clicks", CLICK_COLUMNS, _PG_CLICK_TYPES, rows, _NEW_IDS)
    return {row[0] for row in found}


async def insert_visitors(
    connection: Connection, visitors: list[tuple[int, date, str]]
) -> list[tuple[int, date]]:
    """Record (link, day, visitor) triples; the (link, day) of each one not seen before."""
    if not visitors:
        return []
    columns = ("link_id", "day", "visitor_hash")
    types = ("bigint", "date", "varchar")
    if connection.postgres:
        found = await batch.insert(
            connection, "visitor_days", columns, types, visitors, _NEW_VISITORS
        )
        return [(int(link), day) for link, day in found]
    rows = [(link, day.isoformat(), seen) for link, day, seen in visitors]
    found = await batch.insert(connection, "visitor_days", columns, types, rows, _NEW_VISITORS)
    return [(int(link), date.fromisoformat(day)) for link, day in found]


def _day_first(row: tuple[Any, ...]) -> tuple[Any, Any]:
    """The order rollup rows are written in: by day (or month), then link."""
    return row[1], row[0]


async def add_click_days(
    connection: Connection, counts: list[tuple[int, date, int, int, int]]
) -> None:
    """Add (link, day, clicks, bot clicks, new visitors) to the rollups, days and months, per
    link and per the links' source, medium and campaign (`utm_rollup`), creating rows as
    needed.

    The (link, day) pairs must be distinct. Written day by day, then link:
    concurrent writers (and `tracker rollup rebuild`, `tracker bots reclassify`)
    then take their row locks in the same order and never deadlock, and a day's
    rows are stored together.
    """
    counts = sorted(counts, key=_day_first)  # linear if they come in order (the rebuild's)
    months: dict[tuple[int, date], list[int]] = {}
    for link_id, day, *numbers in counts:
        month = months.setdefault((link_id, day.replace(day=1)), [0, 0, 0])
        for n, number in enumerate(numbers):
            month[n] += number
    await batch.add_to_rollup(connection, "click_days", _LINK_DAY, counts)
    by_month = sorted(((*key, *numbers) for key, numbers in months.items()), key=_day_first)
    await batch.add_to_rollup(connection, "click_months", _LINK_MONTH, by_month)
    await utm_rollup.add(connection, counts)
