"""The database through its driver alone: what the click writer's process needs, without
SQLAlchemy.

The writer's statements already went straight to the driver (clicks/bulk.py):
SQLAlchemy's per-row parameter handling cost more than the inserts. What was
left of SQLAlchemy in that process was the engine and pool around them, and
importing it with its ORM and asyncio extension was 28 MB of the process's
63 MB (measured, one import after another in a fresh interpreter). Here is
what the writer needs of an engine: a connection per task that works at once
(the batches and retention), the same SQLite pragmas and PostgreSQL settings
as the serving process (db/engine.py shares them from here), transactions,
and a new connection after the database was away.

The serving process and the commands keep SQLAlchemy; when they run the
writer's statements (`TRACKER_CLICK_WRITE=sync`, the demo, `tracker rollup
rebuild`) they hand over their own connection (db/engine.py's `raw` and
`EngineDatabase`). Each statement's SQL is its dialect's own: `?`
placeholders on SQLite, `$1` on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never wait for the writer
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)
POSTGRES_SETTINGS = {
    # asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic
    # plan that ignores the actual date range (a report: 100 -> 350 ms).
    "plan_cache_mode": "force_custom_plan",
    # A report reads its metric families side by side, on as many backends: they share the
    # cores already, and parallel workers for one of them only oversubscribe them (a year by
    # campaign: 250 -> 200 ms without).
    "max_parallel_workers_per_gather": "0",
}

_SQLITE = "sqlite+aiosqlite://"
_POSTGRES = "postgresql+asyncpg://"


def is_postgres(database_url: str) -> bool:
    """Which database a URL that config.normalize_database_url accepted names."""
    return database_url.startswith(_POSTGRES)


def asyncpg_dsn(database_url: str) -> str:
    """The PostgreSQL URL as asyncpg itself reads it (percent-escapes and options included)."""
    return "postgresql://" + database_url.removeprefix(_POSTGRES)


def sqlite_path(database_url: str) -> str:
    """The file a SQLite URL names, as SQLAlchemy reads it (``sqlite:///relative.db``,
    ``sqlite:////absolute.db``)."""
    return database_url.removeprefix(_SQLITE).removeprefix("/") or ":memory:"


def sqlite_time(moment: datetime) -> str:
    """An instant as SQLAlchemy's SQLite DateTime stores it: UTC text, no offset, always
    microseconds, so that the text comparisons order it right."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def driver_errors(postgres: bool) -> tuple[type[Exception], ...]:
    """What a driver raises when its database is away, slow or refusing."""
    if postgres:
        import asyncpg  # only on PostgreSQL: a writer on SQLite keeps 3 MB less

        return (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
    return (sqlite3.Error, OSError, TimeoutError)


class Connection:
    """A driver's connection with one way to call it, whichever driver."""

    def __init__(self, driver: Any, postgres: bool) -> None:
        self.driver = driver  # an aiosqlite or asyncpg connection
        self.postgres = postgres

    def mark(self, n: int) -> str:
        """The placeholder of the statement's n-th parameter (from 1)."""
        return f"${n}" if self.postgres else "?"

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            return [tuple(record) for record in await self.driver.fetch(sql, *params)]
        return [tuple(row) for row in await self.driver.execute_fetchall(sql, params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; how many rows it changed."""
        if self.postgres:
            status: str = await self.driver.execute(sql, *params)  # "DELETE 5000"
            count = status.rsplit(" ", 1)[-1]
            return int(count) if count.isdigit() else 0
        cursor = await self.driver.execute(sql, params)
        changed: int = cursor.rowcount
        await cursor.close()
        return changed


class Database(Protocol):
    """What the writer's statements need: transactions, and on PostgreSQL a connection
    outside one (partitions are detached CONCURRENTLY, which no transaction may hold)."""

    postgres: bool
    errors: tuple[type[Exception], ...]  # what it raises when the database is away or refuses

    def begin(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...

    def connect(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...


class DriverDatabase:
    """A database reached through its driver, a connection per task that uses it at once.

    A connection that failed is closed and forgotten, so the next use after an
    outage connects again; idle ones are kept (the writer uses one, retention a
    second now and then).
    """

    def __init__(self, database_url: str) -> None:
        self.postgres = is_postgres(database_url)
        self._url = database_url
        self._idle: list[Connection] = []
        self.errors = driver_errors(self.postgres)

    async def _open(self) -> Connection:
        if self.postgres:
            import asyncpg

            driver = await asyncpg.connect(
                asyncpg_dsn(self._url), server_settings=POSTGRES_SETTINGS
            )
            return Connection(driver, postgres=True)
        import aiosqlite

        driver = await aiosqlite.connect(sqlite_path(self._url), isolation_level=None)
        try:
            for pragma in SQLITE_PRAGMAS:
                await (await driver.execute(pragma)).close()
        except BaseException:
            await driver.close()
            raise
        return Connection(driver, postgres=False)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        """A connection of its own while the block runs; each statement commits itself."""
        connection = self._idle.pop() if self._idle else await self._open()
        try:
            yield connection
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.driver.close()
            raise
        self._idle.append(connection)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[Connection]:
        """One transaction, committed when the block ends, rolled back if it raises. On SQLite
        it takes the write lock at once (BEGIN IMMEDIATE), as the serving process's do."""
        async with self.connect() as connection:
            if connection.postgres:
                async with connection.driver.transaction():
                    yield connection
                return
            await connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                with contextlib.suppress(Exception):
                    await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.driver.close()
