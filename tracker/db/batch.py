"""Many rows in one statement, in each driver's fastest form, for the click writer's process.

SQLAlchemy's per-row parameter handling cost more than the insert itself (about
60 µs a click), so batches go straight to the driver: PostgreSQL gets one
INSERT … SELECT FROM unnest(arrays), SQLite one multi-row VALUES per chunk.
Used by the writer (clicks, visitors, the rollups) and by whatever else adds to
a rollup (a link's UTM change moves its counts), so that every writer of a
rollup writes it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from tracker.db.driver import Connection

# SQLite allows 32766 bound parameters in one statement: 1024 rows of 14 columns fit.
SQLITE_ROWS = 1024
ROLLUP_COUNTS = ("clicks", "bot_clicks", "unique_visitors")


def _same_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


def _padded(
    rows: list[tuple[Any, ...]], filler: Callable[[tuple[Any, ...]], tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """``rows`` repeated at the end up to a power of two (at most SQLITE_ROWS).

    SQLite compiles each distinct statement text once and keeps it in the
    connection's statement cache: a multi-row VALUES for every batch size ever
    seen filled it with large programs (RSS grew ~8 MB/s under load). Padded,
    there are ten shapes per table. The repeats change nothing: a repeated
    click or visitor is a conflict that does nothing, and a rollup pads with
    zero counts.
    """
    size = 1 << (len(rows) - 1).bit_length()
    return rows + [filler(rows[-1])] * (size - len(rows))


async def insert(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
    filler: Callable[[tuple[Any, ...]], tuple[Any, ...]] = _same_row,
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (in the database's own form: dates as text on SQLite) with an
    ON CONFLICT clause; what its RETURNING returns. ``types`` are PostgreSQL's, for its
    arrays; ``filler`` makes SQLite's padding rows (`_padded`)."""
    if connection.postgres:
        arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=1))
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
            f" {on_conflict}"
        )
        return await connection.fetch(sql, [list(values) for values in zip(*rows, strict=True)])
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), SQLITE_ROWS):
        chunk = _padded(rows[start : start + SQLITE_ROWS], filler)
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ", ".join([placeholders] * len(chunk))
            + f" {on_conflict}"
        )
        # One round trip to the connection's thread: each one waits for the interpreter.
        found += await connection.fetch(sql, [value for row in chunk for value in row])
    return found


async def add_to_rollup(
    connection: Connection,
    table: str,
    keys: Sequence[tuple[str, str]],
    rows: list[tuple[Any, ...]],
) -> None:
    """Add (key values…, clicks, bot clicks, unique visitors) rows to a rollup table, creating
    its rows as needed. ``keys`` are the key columns with their PostgreSQL types, in the
    order they lead each row; the rows are written in the order given (the lock order)."""
    if not rows:
        return
    names = [name for name, _ in keys]
    add = f"ON CONFLICT ({', '.join(names)}) DO UPDATE SET " + ", ".join(
        f"{column} = {table}.{column} + excluded.{column}" for column in ROLLUP_COUNTS
    )
    types = [kind for _, kind in keys] + ["bigint"] * len(ROLLUP_COUNTS)
    if not connection.postgres:
        rows = [
            tuple(value.isoformat() if isinstance(value, date) else value for value in row)
            for row in rows
        ]
    width = len(keys)

    def nothing(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*row[:width], 0, 0, 0)

    await insert(connection, table, (*names, *ROLLUP_COUNTS), types, rows, add, nothing)
