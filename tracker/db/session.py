"""The request owns the transaction: one session per request, committed before the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


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
