"""What a request's handlers are given: its session, which owns the transaction (committed
before the answer), and the settings the app was made with.

Kept apart from `tracker.config` so that processes without a web app (the
click writer, the command line) never import FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.config import Settings


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction has committed, e.g. to drop a cache entry."""
    session.info.setdefault("after_commit", []).append(callback)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the handler returns and before the response."""
    async with request.app.state.sessionmaker() as session:
        yield session
        await session.commit()
        for callback in session.info.pop("after_commit", []):
            callback()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_app_settings)]
"""The settings the app was created with (tests create apps with their own)."""


def _readers(request: Request) -> async_sessionmaker[AsyncSession]:
    readers: async_sessionmaker[AsyncSession] = request.app.state.readers
    return readers


ReadersDep = Annotated[async_sessionmaker[AsyncSession], Depends(_readers)]
"""Read-only sessions, a connection each: for work that reads on several at once (reports)."""
