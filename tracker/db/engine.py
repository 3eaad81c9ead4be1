"""The engine for either database, and the one place that decides which database it is."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

Dialect = Literal["sqlite", "postgresql"]

# What a database that is away, slow or refusing raises, whichever the driver.
DATABASE_ERRORS = (SQLAlchemyError, OSError, TimeoutError)


Bind = AsyncEngine | AsyncConnection | AsyncSession


def reason(error: BaseException) -> str:
    """A database error in the driver's words, on one line, without SQLAlchemy's wrapping."""
    return str(getattr(error, "orig", None) or error).strip().split("\n", 1)[0]


def dialect_of(where: str | Bind) -> Dialect:
    """Which database a URL, an engine, a connection or a session talks to."""
    if isinstance(where, str):
        name = make_url(where).get_backend_name()
    elif isinstance(where, AsyncSession):
        name = where.get_bind().dialect.name
    else:
        name = where.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {name!r}")
    return "postgresql" if name == "postgresql" else "sqlite"


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so a read-then-write never dead-ends.

    pysqlite's own transaction handling is switched off (the SQLAlchemy recipe),
    which also makes SAVEPOINT work.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (see `reader`) never wait for a writer in WAL mode; writers queue up at once.
        reading = connection.get_execution_options().get("tracker_reader", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def create_engine(database_url: str) -> AsyncEngine:
    if dialect_of(database_url) == "sqlite":
        engine = create_async_engine(database_url, pool_size=5, max_overflow=10)
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
                # generic plan that ignores the actual date range (a report: 100 -> 350 ms).
                "plan_cache_mode": "force_custom_plan",
                # A report reads its metric families side by side, on as many backends: they
                # share the cores already, and parallel workers for one of them only
                # oversubscribe them (a year by campaign: 250 -> 200 ms without).
                "max_parallel_workers_per_gather": "0",
            }
        },
    )


def reader(engine: AsyncEngine, *, autocommit: bool = True) -> AsyncEngine:
    """The same engine and pool, for reading only: on SQLite in a deferred BEGIN; on
    PostgreSQL in autocommit, each statement on its own, because BEGIN and ROLLBACK were two
    of the five round trips of a report's read, and a round trip costs most of a small read
    (``autocommit=False``: in one transaction, as a request's reads that go together)."""
    if dialect_of(engine) == "postgresql" and autocommit:
        return engine.execution_options(tracker_reader=True, isolation_level="AUTOCOMMIT")
    return engine.execution_options(tracker_reader=True)


async def ping(engine: AsyncEngine, seconds: float) -> None:
    """A trivial query answered within ``seconds``, or one of DATABASE_ERRORS raised."""
    async with asyncio.timeout(seconds), engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
