"""The engine for either database, and the one place that decides which database it is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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
from sqlalchemy.pool import NullPool

from tracker.db import driver

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
        for pragma in driver.SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (see `reader`) never wait for a writer in WAL mode; writers queue up at once.
        reading = connection.get_execution_options().get("tracker_reader", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def create_engine(database_url: str, pooled: bool = True) -> AsyncEngine:
    """``pooled=False``: a connection for each use, closed after it, for the seldom user that
    keeps nothing open between uses (the click writer's late credits)."""
    sqlite = dialect_of(database_url) == "sqlite"
    pool: dict[str, Any]
    if not pooled:
        pool = {"poolclass": NullPool}
    elif sqlite:
        pool = {"pool_size": 5, "max_overflow": 10}
    else:
        pool = {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
    if sqlite:
        engine = create_async_engine(database_url, **pool)
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        database_url, **pool, connect_args={"server_settings": driver.POSTGRES_SETTINGS}
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


async def raw(connection: AsyncConnection) -> driver.Connection:
    """The driver's own connection under SQLAlchemy's, inside its transaction: for the click
    writer's statements (clicks/bulk.py) run by the serving process or a command."""
    driver_connection = (await connection.get_raw_connection()).driver_connection
    return driver.Connection(driver_connection, dialect_of(connection) == "postgresql")


class EngineDatabase:
    """An engine's pool as the click writer's statements take a database (driver.Database):
    `TRACKER_CLICK_WRITE=sync` and the demo write clicks through the serving process's."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.postgres = dialect_of(engine) == "postgresql"
        self.errors: tuple[type[Exception], ...] = (
            *DATABASE_ERRORS,
            *driver.driver_errors(self.postgres),
        )
        self._engine = engine

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[driver.Connection]:
        async with self._engine.begin() as connection:
            yield await raw(connection)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[driver.Connection]:
        # SQLAlchemy begins nothing until it runs a statement itself: the driver's commit alone.
        async with self._engine.connect() as connection:
            yield await raw(connection)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
