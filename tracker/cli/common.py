"""What every command shares: the settings, read with a clear error, and one migrated session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.config import Settings, get_settings, invalid_setting
from tracker.db import migrate
from tracker.db.engine import create_engine, create_sessionmaker, reader
from tracker.errors import TrackerError

T = TypeVar("T")


def settings_or_exit() -> Settings:
    """The settings, or one clear line naming the bad one and exit status 2."""
    try:
        return get_settings()
    except ValidationError as exc:
        typer.echo(invalid_setting(exc), err=True)
        raise typer.Exit(2) from exc


def with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate to head (so every command works on a fresh install), then run ``work``."""

    async def in_one_transaction(sessions: async_sessionmaker[AsyncSession]) -> T:
        async with sessions() as session, session.begin():
            return await work(session)

    return with_sessions(in_one_transaction)


def with_sessions(
    work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]], *, reading: bool = False
) -> T:
    """Like `with_session`, for work that commits as it goes (in batches, say), or that only
    reads, on several connections at once (``reading``: read-only sessions)."""
    settings = settings_or_exit()
    migrate.upgrade(settings.database_url)

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(create_sessionmaker(reader(engine) if reading else engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except TrackerError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc
