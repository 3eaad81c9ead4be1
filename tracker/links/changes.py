"""Who must hear that links changed, once the change is committed.

The links domain announces; the redirect's cache subscribes (wired by the
server's runtime), so that this process answers a changed link at once. The
links domain knows nothing of who listens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.db.session import after_commit

Subscriber = Callable[[tuple[str, ...]], None]


class LinkChanges:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def after_commit(self, session: AsyncSession, *slugs: str) -> None:
        """Tell every subscriber about ``slugs`` once ``session``'s transaction has committed."""
        after_commit(session, lambda: self.announce(slugs))

    def announce(self, slugs: tuple[str, ...]) -> None:
        for subscriber in self._subscribers:
            subscriber(slugs)


def _link_changes(request: Request) -> LinkChanges:
    changes: LinkChanges = request.app.state.link_changes
    return changes


LinkChangesDep = Annotated[LinkChanges, Depends(_link_changes)]
