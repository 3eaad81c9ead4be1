"""How every process hears that a link changed, whichever process or host changed it.

The links service records each change in the change's own transaction
(`record_changes`), so it is heard once the change commits and never when it rolls
back: on PostgreSQL as a NOTIFY, which the database delivers to every
listening connection at commit; on SQLite as a row of `link_changes`, which
each process polls four times a second (one machine, a local file: the
processes of `--workers N` and the command line). A process that changed a
link also tells its own subscribers at once (`after_commit`).

When the PostgreSQL listener loses its connection, the process falls back to
the cache TTL and says so (`state`, `/readyz`, `tracker_link_changes_heard`);
once it listens again, every cached link is reloaded, since changes made
meanwhile were not heard. The links domain knows nothing of who listens: the
server's runtime subscribes the redirect's cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, Request
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tracker.clock import utcnow
from tracker.db.driver import asyncpg_dsn
from tracker.db.engine import DATABASE_ERRORS, create_sessionmaker, dialect_of, reader
from tracker.db.session import after_commit
from tracker.metrics import LINK_CHANGES_HEARD
from tracker.models import LinkChange

log = logging.getLogger(__name__)

CHANNEL = "tracker_link_changes"
LISTENER_NAME = "tracker link changes"  # its application_name in pg_stat_activity
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 5.0  # a listener that hears nothing asks this often whether it is still heard
RETRY_SECONDS = 1.0
KEPT = timedelta(hours=1)  # older change rows are pruned: every process read them long ago
_PAYLOAD_BYTES = 7_000  # a NOTIFY payload must stay under 8,000 bytes

State = Literal["notified", "polled", "ttl fallback"]


class Subscriber(Protocol):
    """What hears of link changes (the redirect's link cache)."""

    def forget(self, *slugs: str) -> None:
        """Changed through this process, now committed."""

    def reload(self, *slugs: str) -> None:
        """Changed, as the database says: elsewhere, or an echo of a change made here."""

    def expire_all(self) -> None:
        """Changes may have gone unheard (the listener was away): anything held may be stale."""


async def record_changes(session: AsyncSession, slugs: tuple[str, ...]) -> None:
    """Make ``slugs``' change heard by every process once ``session``'s transaction commits."""
    if dialect_of(session) == "postgresql":
        for payload in _payloads(slugs):
            await session.execute(select(func.pg_notify(CHANNEL, payload)))
        return
    now = utcnow()
    await session.execute(delete(LinkChange).where(LinkChange.changed_at < now - KEPT))
    await session.execute(insert(LinkChange), [{"slug": s, "changed_at": now} for s in slugs])


def _payloads(slugs: tuple[str, ...]) -> Iterator[str]:
    """Slugs joined by spaces (no slug holds one), in payloads small enough for NOTIFY."""
    chunk: list[str] = []
    size = 0
    for slug in slugs:
        if chunk and size + len(slug) + 1 > _PAYLOAD_BYTES:
            yield " ".join(chunk)
            chunk, size = [], 0
        chunk.append(slug)
        size += len(slug) + 1
    if chunk:
        yield " ".join(chunk)


class LinkChanges:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._follower: asyncio.Task[None] | None = None
        self._mechanism: Literal["notified", "polled"] = "polled"
        self._hearing = False

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def after_commit(self, session: AsyncSession, *slugs: str) -> None:
        """Tell this process's subscribers about ``slugs`` as soon as ``session`` commits,
        before the database's own word reaches them."""

        def forget() -> None:
            for subscriber in self._subscribers:
                subscriber.forget(*slugs)

        after_commit(session, forget)

    def _heard(self, slugs: Sequence[str]) -> None:
        for subscriber in self._subscribers:
            subscriber.reload(*slugs)

    @property
    def state(self) -> State:
        """How this process hears of changes made elsewhere right now."""
        return self._mechanism if self._hearing else "ttl fallback"

    def start(self, engine: AsyncEngine) -> None:
        """Hear the changes other processes record, until `stop`."""
        if dialect_of(engine) == "postgresql":
            self._mechanism = "notified"
            follow = self._listen(engine)
        else:
            self._mechanism = "polled"
            follow = self._poll(engine)
        self._set_hearing(False)
        self._follower = asyncio.create_task(follow, name="link-changes")

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
            self._follower = None

    def _set_hearing(self, hearing: bool) -> None:
        if hearing != self._hearing:
            log.log(
                logging.INFO if hearing else logging.WARNING,
                "link changes: %s",
                self._mechanism if hearing else "not heard; the link cache's TTL applies",
            )
        self._hearing = hearing
        LINK_CHANGES_HEARD.labels(self._mechanism).set(int(hearing))

    async def _poll(self, engine: AsyncEngine) -> None:
        sessions = create_sessionmaker(reader(engine))
        last: int | None = None
        while True:
            try:
                async with sessions() as session:
                    if last is None:  # what was recorded before this process started is moot
                        last = await session.scalar(select(func.max(LinkChange.id))) or 0
                    rows = (
                        await session.execute(
                            select(LinkChange.id, LinkChange.slug)
                            .where(LinkChange.id > last)
                            .order_by(LinkChange.id)
                        )
                    ).all()
            except DATABASE_ERRORS as exc:
                if self._hearing:
                    log.warning("link changes not read: %s", exc)
                self._set_hearing(False)
            else:
                self._set_hearing(True)
                if rows:
                    last = rows[-1].id
                    self._heard([row.slug for row in rows])
            await asyncio.sleep(POLL_SECONDS)

    async def _listen(self, engine: AsyncEngine) -> None:
        # The driver itself, on PostgreSQL only: a server on SQLite keeps 3 MB less.
        import asyncpg

        dsn = asyncpg_dsn(engine.url.render_as_string(hide_password=False))
        missed = False
        while True:
            try:
                await self._listen_once(dsn, missed)
            except (*DATABASE_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.debug("link change listener: %s", exc)
            self._set_hearing(False)
            missed = True
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen_once(self, dsn: str, missed: bool) -> None:
        """LISTEN until the connection is lost; returns then."""
        import asyncpg

        connection = await asyncpg.connect(
            dsn, timeout=HEARTBEAT_SECONDS, server_settings={"application_name": LISTENER_NAME}
        )
        lost = asyncio.get_running_loop().create_future()

        def _lost(_connection: Any) -> None:
            if not lost.done():
                lost.set_result(None)

        def _notified(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            self._heard(payload.split(" "))

        try:
            connection.add_termination_listener(_lost)
            await connection.add_listener(CHANNEL, _notified)
            if missed:  # changes made while nobody listened: whatever is held may be stale
                for subscriber in self._subscribers:
                    subscriber.expire_all()
            self._set_hearing(True)
            while not lost.done():
                try:
                    await asyncio.wait_for(asyncio.shield(lost), HEARTBEAT_SECONDS)
                except TimeoutError:  # quiet: make sure the connection still carries words
                    await connection.fetchval("SELECT 1", timeout=HEARTBEAT_SECONDS)
        finally:
            connection.terminate()


def _link_changes(request: Request) -> LinkChanges:
    changes: LinkChanges = request.app.state.link_changes
    return changes


LinkChangesDep = Annotated[LinkChanges, Depends(_link_changes)]
