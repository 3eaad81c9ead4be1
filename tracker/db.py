"""Engine, sessions and the declarative base shared by every table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both databases (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def unix_micros(moment: datetime) -> int:
    """Microseconds since 1970 UTC: how the redirect's clock and the click journal carry time."""
    return (moment - UNIX_EPOCH) // _MICROSECOND


def from_unix_micros(micros: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=micros)


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
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, pool_size=5, max_overflow=10)
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
        # generic plan that ignores the actual date range (a report: 100 ms -> 350 ms).
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for transactions that only read (on SQLite: a deferred BEGIN)."""
    return engine.execution_options(tracker_reader=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def upsert(table: Any, dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, the one that takes an ON CONFLICT clause."""
    dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return dialect_insert(table)


def insert_ignoring_duplicates(table: Any, dialect_name: str) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: replays and redeliveries become no-ops, never errors."""
    return upsert(table, dialect_name).on_conflict_do_nothing()


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction has committed, e.g. to drop a cache entry."""
    session.info.setdefault("after_commit", []).append(callback)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the handler returns and before the response."""
    async with request.app.state.runtime.sessionmaker() as session:
        yield session
        await session.commit()
        for callback in session.info.pop("after_commit", []):
            callback()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
