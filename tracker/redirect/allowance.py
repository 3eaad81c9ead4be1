"""A link's `max_clicks`, held across processes, hosts and restarts by reserving clicks in the
database before they are redirected.

`links.clicks_reserved` counts the human clicks some process was allowed to
redirect, never more than `max_clicks`. A process reserves a block of them in
one short transaction (a sixteenth of what is left, 1 to 1,024) and spends it
from memory, reserving the next block when half of this one is left: a
redirect waits on the database only when its process's block is spent, which
for the last 32 clicks of a limit means each time. Links without a limit
never come here. A process may hold clicks it has not spent while another
already answers 410: they are spent at its next clicks, or returned when it
stops (a used-up link asks the database again after a second).

A process that stops returns what it did not spend. One that dies (kill -9, a
power cut) loses its block: the link then ends up to that many clicks short
of its limit, never over it. While the database is away, a limited link
redirects what its process holds, then answers 503: the limit is the promise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.db.engine import DATABASE_ERRORS
from tracker.models import Link
from tracker.redirect.link import CachedLink

log = logging.getLogger(__name__)

BLOCK_MAX = 1024  # a hot link reserves every thousand clicks, not every few dozen
BLOCK_SHARE = 16  # of what is left in the database: several hosts still each get some
TIMEOUT_SECONDS = 5.0
RECHECK_SECONDS = 1.0  # a used-up link is asked about again: a stopping host may return clicks


@dataclass
class _Allowance:
    limit: int | None  # the max_clicks it was reserved under
    left: int = 0
    block: int = 0
    used_up_at: float | None = None  # when the database last said that nothing is left
    reserving: asyncio.Future[bool] | None = field(default=None, repr=False)  # its round


class ClickAllowances:
    """Reservations go in rounds: every link that needs a block while one round is in the
    database joins the next, which asks for all of them in one transaction. On SQLite,
    whose writes take turns with the click writer's batches, a thousand limited links
    starting at once cost a few transactions, not a thousand."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessionmaker
        self._links: dict[int, _Allowance] = {}
        self._returning: set[asyncio.Task[None]] = set()
        self._asking: dict[int, _Allowance] = {}  # the next round's links
        self._next_round: asyncio.Future[bool] | None = None
        self._rounds: asyncio.Task[None] | None = None

    def used_up(self, link: CachedLink) -> bool:
        """Whether the database said, within the last second, that no click is left."""
        allowance = self._links.get(link.id)
        return (
            allowance is not None
            and allowance.limit == link.max_clicks
            and allowance.left == 0
            and self._said_used_up(allowance)
        )

    @staticmethod
    def _said_used_up(allowance: _Allowance) -> bool:
        at = allowance.used_up_at
        return at is not None and time.monotonic() - at < RECHECK_SECONDS

    async def take(self, link: CachedLink) -> bool | None:
        """One human click of ``link``: whether it may be redirected; None when this process
        holds none and the database cannot be asked."""
        allowance = self._allowance(link)
        while allowance.left == 0:  # clicks waiting together may spend a block before this one
            if self._said_used_up(allowance):
                return False
            if not await asyncio.shield(self._ask(link.id, allowance)):
                return None
        allowance.left -= 1
        # Blocks of one (under 32 left) are not fetched ahead: a click held here is one that
        # another process cannot give while this one is not asked.
        if allowance.block > 1 and allowance.left * 2 <= allowance.block:
            self._ask(link.id, allowance)
        return True

    async def close(self) -> None:
        """Return every unspent click, so that other processes may redirect them."""
        if self._rounds is not None:
            await asyncio.gather(self._rounds, return_exceptions=True)
        await asyncio.gather(*self._returning, return_exceptions=True)
        links, self._links = self._links, {}
        for link_id, allowance in links.items():
            await self._return(link_id, allowance.left)

    def _allowance(self, link: CachedLink) -> _Allowance:
        allowance = self._links.get(link.id)
        if allowance is not None and allowance.limit == link.max_clicks:
            return allowance
        if allowance is not None and allowance.left:  # the limit changed: start over from it
            task = asyncio.create_task(self._return(link.id, allowance.left))
            self._returning.add(task)
            task.add_done_callback(self._returning.discard)
        allowance = self._links[link.id] = _Allowance(link.max_clicks)
        return allowance

    def _ask(self, link_id: int, allowance: _Allowance) -> asyncio.Future[bool]:
        """The round that brings ``allowance`` its next block: the one it is in, or the next."""
        if allowance.reserving is not None:
            return allowance.reserving
        if self._next_round is None:
            self._next_round = asyncio.get_running_loop().create_future()
        self._asking[link_id] = allowance
        allowance.reserving = self._next_round
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.create_task(self._run_rounds(), name="click-reservations")
        return self._next_round

    async def _run_rounds(self) -> None:
        while self._asking:
            asking, self._asking = self._asking, {}
            outcome, self._next_round = self._next_round, None
            assert outcome is not None
            asked = False
            try:
                asked = await self._reserve(asking)
            finally:  # whatever happens, the clicks waiting on the round learn its outcome
                for allowance in asking.values():
                    allowance.reserving = None
                outcome.set_result(asked)

    async def _reserve(self, asking: dict[int, _Allowance]) -> bool:
        """A block for each link asking, in one transaction; False if the database could not
        be asked."""
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                async with self._sessions() as session, session.begin():
                    granted = await _reserve_blocks(session, list(asking))
        except DATABASE_ERRORS as exc:
            log.warning("clicks of %d limited links not reserved: %s", len(asking), exc)
            return False
        for link_id, allowance in asking.items():
            got = granted.get(link_id, 0)
            if self._links.get(link_id) is not allowance:  # the limit changed meanwhile
                await self._return(link_id, got)
                continue
            allowance.left += got
            allowance.block = got
            allowance.used_up_at = None if got else time.monotonic()
        return True

    async def _return(self, link_id: int, clicks: int) -> None:
        if not clicks:
            return
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(Link)
                    .where(Link.id == link_id, Link.clicks_reserved >= clicks)
                    .values(
                        clicks_reserved=Link.clicks_reserved - clicks, updated_at=Link.updated_at
                    )
                )
        except DATABASE_ERRORS as exc:
            log.warning("%d reserved clicks of a limited link not returned: %s", clicks, exc)


async def _reserve_blocks(session: AsyncSession, link_ids: list[int]) -> dict[int, int]:
    """Reserve up to a block of each link's clicks; how many each was granted."""
    rows = await session.execute(
        select(Link.id, Link.max_clicks, Link.clicks_reserved)
        .where(Link.id.in_(link_ids))
        .order_by(Link.id)  # rows locked in one order: two hosts never wait on each other
        .with_for_update()
    )
    granted: dict[int, int] = {}
    reserved: list[dict[str, int]] = []
    for link_id, limit, already in rows:
        if limit is None or limit <= already:
            continue
        granted[link_id] = max(1, min(BLOCK_MAX, (limit - already) // BLOCK_SHARE))
        reserved.append({"link": link_id, "reserved": already + granted[link_id]})
    if reserved:  # each to the value read under the lock above; not an edit: updated_at stays
        links = cast(Table, Link.__table__)
        await session.execute(
            update(links)
            .where(links.c.id == bindparam("link"))
            .values(clicks_reserved=bindparam("reserved"), updated_at=links.c.updated_at),
            reserved,
        )
    return granted
