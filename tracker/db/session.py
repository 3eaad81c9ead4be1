"""What a request's handlers are given: its session, which owns the transaction (committed
before the answer), and the settings the app was made with.

Kept apart from `tracker.config` so that processes without a web app (the
click writer, the command line) never import FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.config import Settings


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction has committed, e.g. to drop a cache entry."""
    session.info.setdefault("after_commit", []).append(callback)


SAFE_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the handler returns and before the response.

    A GET or HEAD request only reads: on SQLite its transaction begins deferred, so
    that a page or an API read never queues for the write lock behind the click
    writer's batch (a small report beside a redirect load, bench/busy_reads.py: p90
    142 -> 37 ms). What such a request must write goes through `writing`.
    """
    state = request.app.state
    sessions = state.safe_requests if request.method in SAFE_METHODS else state.sessionmaker
    async with sessions() as session:
        yield session
        await session.commit()
        for callback in session.info.pop("after_commit", []):
            callback()


@asynccontextmanager
async def writing(request: Request, session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Where a request writes: its own session, or for a GET or HEAD request (whose session
    only reads) a short transaction of its own, committed on the way out."""
    if request.method not in SAFE_METHODS:
        yield session
        return
    async with request.app.state.sessionmaker() as own, own.begin():
        yield own


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
