"""The writer's hot statements in each driver's fastest form.

SQLAlchemy's per-row parameter handling cost more than the insert itself (about
60 µs a click), so the click batch and its visitor dedupe go straight to the
driver: PostgreSQL gets one INSERT … SELECT FROM unnest(arrays), SQLite one
multi-row VALUES per chunk. Both skip ids already stored and return the ones
they inserted, so the rollup counts each click exactly once; the rollup's own
upsert goes the same way (a batch spread over many links touches as many rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
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
from tracker.db.driver import Connection

CLICK_COLUMNS = (
    "id", "link_id", "clicked_at", "referrer_host", "referrer", "user_agent", "device_type",
    "browser", "os", "is_bot", "visitor_hash", "country", "query", "bot_signal",
)  # fmt: skip
_PG_CLICK_TYPES = (
    "varchar", "bigint", "timestamptz", "varchar", "varchar", "varchar", "varchar",
    "varchar", "varchar", "boolean", "varchar", "varchar", "json", "varchar",
)  # fmt: skip
_COUNTS = ("clicks", "bot_clicks", "unique_visitors")
_NEW_IDS = "ON CONFLICT DO NOTHING RETURNING id"
_NEW_VISITORS = "ON CONFLICT DO NOTHING RETURNING link_id, day"
# SQLite allows 32766 bound parameters in one statement: 1024 rows of 14 columns fit.
_SQLITE_ROWS = 1024


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


def _same_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


def _padded(
    rows: list[tuple[Any, ...]], filler: Callable[[tuple[Any, ...]], tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """``rows`` repeated at the end up to a power of two (at most _SQLITE_ROWS).

    SQLite compiles each distinct statement text once and keeps it in the
    connection's statement cache: a multi-row VALUES for every batch size ever
    seen filled it with large programs (RSS grew ~8 MB/s under load). Padded,
    there are ten shapes per table. The repeats change nothing: a repeated
    click or visitor is a conflict that does nothing, and the rollup pads with
    zero counts.
    """
    size = 1 << (len(rows) - 1).bit_length()
    return rows + [filler(rows[-1])] * (size - len(rows))


async def _sqlite_insert(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
    filler: Callable[[tuple[Any, ...]], tuple[Any, ...]] = _same_row,
) -> list[tuple[Any, ...]]:
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = _padded(rows[start : start + _SQLITE_ROWS], filler)
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ", ".join([placeholders] * len(chunk))
            + f" {on_conflict}"
        )
        # One round trip to the connection's thread: each one waits for the interpreter.
        found += await connection.fetch(sql, [value for row in chunk for value in row])
    return found


async def _postgres_insert(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
) -> list[tuple[Any, ...]]:
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=1))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {on_conflict}"
    return await connection.fetch(sql, [list(values) for values in zip(*rows, strict=True)])


async def insert_clicks(connection: Connection, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert click rows (as `click_rows` makes them); the ids that were new."""
    if not rows:
        return set()
    if connection.postgres:
        found = await _postgres_insert(
            connection, "clicks", CLICK_COLUMNS, _PG_CLICK_TYPES, rows, _NEW_IDS
        )
    else:
        found = await _sqlite_insert(connection, "clicks", CLICK_COLUMNS, rows, _NEW_IDS)
    return {row[0] for row in found}


async def insert_visitors(
    connection: Connection, visitors: list[tuple[int, date, str]]
) -> list[tuple[int, date]]:
    """Record (link, day, visitor) triples; the (link, day) of each one not seen before."""
    if not visitors:
        return []
    columns = ("link_id", "day", "visitor_hash")
    if connection.postgres:
        found = await _postgres_insert(
            connection,
            "visitor_days",
            columns,
            ("bigint", "date", "varchar"),
            visitors,
            _NEW_VISITORS,
        )
        return [(int(link), day) for link, day in found]
    rows = [(link, day.isoformat(), seen) for link, day, seen in visitors]
    found = await _sqlite_insert(connection, "visitor_days", columns, rows, _NEW_VISITORS)
    return [(int(link), date.fromisoformat(day)) for link, day in found]


def _day_first(row: tuple[Any, ...]) -> tuple[Any, Any]:
    """The order rollup rows are written in: by day (or month), then link."""
    return row[1], row[0]


async def add_click_days(
    connection: Connection, counts: list[tuple[int, date, int, int, int]]
) -> None:
    """Add (link, day, clicks, bot clicks, new visitors) to the rollup, days and months,
    creating rows as needed.

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
    await _add_counts(connection, "click_days", "day", counts)
    by_month = sorted(((*key, *numbers) for key, numbers in months.items()), key=_day_first)
    await _add_counts(connection, "click_months", "month", by_month)


async def _add_counts(
    connection: Connection,
    table: str,
    period: str,
    counts: list[tuple[Any, ...]],
) -> None:
    if not counts:
        return
    columns = ("link_id", period, *_COUNTS)
    add = f"ON CONFLICT (link_id, {period}) DO UPDATE SET " + ", ".join(
        f"{column} = {table}.{column} + excluded.{column}" for column in _COUNTS
    )
    if connection.postgres:
        types = ("bigint", "date", "bigint", "bigint", "bigint")
        await _postgres_insert(connection, table, columns, types, counts, add)
        return
    rows = [(link, day.isoformat(), *numbers) for link, day, *numbers in counts]
    await _sqlite_insert(connection, table, columns, rows, add, filler=_no_clicks)


def _no_clicks(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A rollup row that adds nothing to its (link, day) or (link, month)."""
    return (row[0], row[1], 0, 0, 0)
