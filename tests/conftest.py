"""Every database-backed test runs twice: on a SQLite file and on a throw-away PostgreSQL database.

PostgreSQL comes from TRACKER_TEST_POSTGRES_URL (default: this machine's
server). Without one the PostgreSQL half fails with a one-line reason: both
engines are the contract, so neither half may be skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import time_machine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url

from tests import factories, platforms
from tracker.config import Settings
from tracker.db import migrate
from tracker.db.engine import create_engine
from tracker.main import create_app
from tracker.models import Base
from tracker.server.dispatch import TrackerApp

POSTGRES_ADMIN_URL = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BASE_URL = "https://go.test"
NOON = datetime(2026, 11, 20, 12, tzinfo=UTC)
CLIENT_IP = "203.0.113.7"


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _postgres_database() -> Iterator[str]:
    """A throw-away database, migrated to head, dropped at the end."""
    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        # Every test runs on both engines; a missing server fails, never skips half of them.
        pytest.fail(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    database = url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(database)
        yield database
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated by Alembic to head, for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'tracker.db'}"
        migrate.upgrade(url)
        yield url
        return
    yield from _postgres_database()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database, for what only PostgreSQL has (LISTEN/NOTIFY, say)."""
    yield from _postgres_database()


async def empty_database(database_url: str) -> None:
    """Delete every row, so the next test starts from a migrated, empty database."""
    engine = create_engine(database_url)
    tables = [table.name for table in Base.metadata.sorted_tables]
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(
                    text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                )
            else:
                for table in reversed(tables):
                    await connection.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "TRUNCATE")


@pytest.fixture(autouse=True)
def readers_never_write() -> Iterator[None]:
    """Reading sessions (reports, and every GET or HEAD request's) must not write: on SQLite
    their transaction begins deferred, and a write there can fail outright when the click
    writer committed since it began. Every test checks it of whatever it runs."""
    written: list[str] = []

    def check(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        reading = conn.get_execution_options().get("tracker_reader")
        if reading and statement.lstrip().split(None, 1)[0].upper() in _WRITES:
            written.append(statement)

    event.listen(Engine, "before_cursor_execute", check)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", check)
    assert not written, f"a reading session wrote: {written}"


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """The wall clock of the whole process (redirects, writer thread, signatures), set to noon
    UTC of a fixed day and running on from there; `clock.move_to` jumps. Request it before
    the app, so that the app starts in that time too."""
    with time_machine.travel(NOON, tick=True) as traveller:
        yield traveller


@pytest.fixture
async def clean_database(database_url: str) -> AsyncIterator[str]:
    yield database_url
    await empty_database(database_url)


@pytest.fixture
def settings(clean_database: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=clean_database,
        base_url=BASE_URL,
        spool_dir=tmp_path / "spool",
        click_flush_interval=0.05,
        click_writer="thread",
        # Written as they come: a test waits for its clicks on a machine the suite keeps busy
        # (the hold's own tests give the writer a machine of their own: test_writer.py).
        click_hold_seconds=0,
        country_header="CF-IPCountry",
        shopify_secret=platforms.SHOPIFY_SECRET,
        woocommerce_secret=platforms.WOOCOMMERCE_SECRET,
        stripe_secret=platforms.STRIPE_SECRET,
        webhook_secret=platforms.WEBHOOK_SECRET,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[TrackerApp]:
    application = create_app(settings)
    async with application.lifespan():
        yield application


@pytest.fixture
async def client(app: TrackerApp) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the ASGI app, as an anonymous visitor from CLIENT_IP."""
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 51515))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=factories.BROWSER_HEADERS
    ) as http:
        yield http


@pytest.fixture
async def api(app: TrackerApp) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that carries a valid API key."""
    async with factories.api_client(app, peer=(CLIENT_IP, 51516)) as http:
        yield http
