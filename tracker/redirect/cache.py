"""Slug -> live link, held in process memory so that a redirect rarely touches the database.

Entries live `link_cache_ttl` seconds (unknown slugs a shorter time); changes
made through this process drop their entry at once, those made elsewhere
within a second (links/changes.py), and the TTL bounds how stale an entry
can be while such changes go unheard. When the database is away, an expired
entry is served on, and a slug not in memory is looked up in the host's link
snapshot (snapshot.py): redirects keep working for every link served here,
across restarts too.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.db.engine import DATABASE_ERRORS
from tracker.metrics import LINK_LOOKUP_SECONDS
from tracker.models import Link
from tracker.redirect import snapshot
from tracker.redirect.link import CachedLink

log = logging.getLogger(__name__)

NEGATIVE_TTL = 2.0
LOAD_TIMEOUT = 5.0
LOOKUPS = 3  # of one slug, while changes to links overtake them
BATCH = 500  # slugs looked up in one query
MAX_ENTRIES = 200_000


class Unknown(enum.Enum):
    """What `LinkCache.peek` answers for a slug it holds nothing about, not even its absence."""

    SLUG = enum.auto()


UNKNOWN = Unknown.SLUG


class LinkCache:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        ttl: float,
        click_id_param: str,
        snapshot_dir: Path | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._snapshot_dir = snapshot_dir
        self._fallback: dict[str, CachedLink] = {}  # the snapshot as it was at start
        self._changed = False
        self._dropped: set[str] = set()  # changed here: out of the snapshot at the next save
        self._saver: asyncio.Task[None] | None = None
        self._ttl = ttl
        self._click_id_param = click_id_param
        self._entries: dict[str, tuple[float, CachedLink | None]] = {}
        # Lookups under way, by slug, with the version they began under.
        self._loading: dict[str, tuple[int, asyncio.Future[CachedLink | None]]] = {}
        self._queued: list[tuple[str, asyncio.Future[CachedLink | None]]] = []  # the next query's
        self._querying: set[asyncio.Task[None]] = set()
        self._refreshing: set[asyncio.Task[None]] = set()
        self._version = 0  # bumped by forget(): reloads begun before a change are not stored

    def peek(self, slug: str) -> CachedLink | Literal[Unknown.SLUG] | None:
        """What memory holds: the link, None for a slug known not to exist, or UNKNOWN.

        An entry past its time is still answered while a background task reloads
        it: only a slug this process has never seen waits for the database.
        """
        entry = self._entries.get(slug)
        if entry is None:
            return UNKNOWN
        if entry[0] <= time.monotonic() and slug not in self._loading:
            self._start_refresh(slug)
        return entry[1]

    async def start(self) -> None:
        """Read the snapshot, and keep it up to date from now on."""
        if self._snapshot_dir is None:
            return
        self._fallback = await asyncio.to_thread(snapshot.load, self._snapshot_dir)
        self._saver = asyncio.create_task(self._keep_saving(), name="link-snapshot")

    async def get(self, slug: str) -> CachedLink | None:
        """The link, or None if no such slug; raises only for a slug neither memory nor the
        snapshot holds while the database is away."""
        link = self.peek(slug)
        if link is not UNKNOWN:
            return link
        try:
            return await self._looked_up(slug)
        except DATABASE_ERRORS:
            remembered = self._fallback.get(slug)
            if remembered is None:
                raise
            log.warning("database away: %r served from the link snapshot", slug)
            self._entries[slug] = (time.monotonic() + NEGATIVE_TTL, remembered)
            return remembered

    async def _looked_up(self, slug: str) -> CachedLink | None:
        """The link from the database, kept in memory. A lookup that a change overtook (the
        echo of the link's own creation, say) may predate it: it is done again rather than
        served once and forgotten, which would also leave it out of the snapshot."""
        for _ in range(LOOKUPS):
            version = self._version
            link = await self._load_once(slug)
            if version == self._version:
                self._store(slug, link, time.monotonic())
                return link
        return link  # changes keep coming: served, and looked up again at the next click

    @property
    def holds_links(self) -> bool:
        """Whether any link is in memory or the snapshot: redirects it can answer without the
        database."""
        return bool(self._fallback) or any(link is not None for _, link in self._entries.values())

    def forget(self, *slugs: str) -> None:
        """Changed through this process: dropped at once, so that its next answer is the new
        one; a reload already under way is discarded."""
        self._version += 1
        for slug in slugs:
            self._entries.pop(slug, None)
            self._fallback.pop(slug, None)
        self._dropped.update(slugs)
        self._changed = True

    def reload(self, *slugs: str) -> None:
        """Changed elsewhere (or an echo of a change made here): what memory holds is reloaded
        now and served until the new version is in, milliseconds later; the snapshot keeps
        it meanwhile. What only the snapshot holds leaves it."""
        self._version += 1
        for slug in slugs:
            entry = self._entries.get(slug)
            if entry is not None:
                self._entries[slug] = (0.0, entry[1])
                self._start_refresh(slug)
            elif self._fallback.pop(slug, None) is not None:
                self._dropped.add(slug)
                self._changed = True

    def expire_all(self) -> None:
        """Changes may have gone unheard: every entry is reloaded at its next click, and
        served meanwhile, as when its time is up."""
        self._version += 1
        self._entries = {slug: (0.0, link) for slug, (_, link) in self._entries.items()}

    async def close(self) -> None:
        queued, self._queued = self._queued, []
        for _, future in queued:
            future.cancel()
        tasks = [*self._refreshing, *self._querying]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._saver is not None:
            self._saver.cancel()
            await asyncio.gather(self._saver, return_exceptions=True)
            await self._save()

    async def _keep_saving(self) -> None:
        while True:
            await asyncio.sleep(snapshot.SAVE_SECONDS)
            await self._save()

    async def _save(self) -> None:
        if not self._changed or self._snapshot_dir is None:
            return
        links = {slug: link for slug, (_, link) in self._entries.items() if link is not None}
        dropped, self._dropped, self._changed = self._dropped, set(), False
        try:
            await asyncio.to_thread(snapshot.save, self._snapshot_dir, links, dropped - set(links))
        except OSError as exc:
            log.error("link snapshot not saved: %s", exc)

    def _start_refresh(self, slug: str) -> None:
        task = asyncio.create_task(self._refresh(slug, self._version))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, slug: str, version: int) -> None:
        try:
            link = await self._load_once(slug)
        except DATABASE_ERRORS as exc:
            log.warning("link lookup failed, serving %r from memory: %s", slug, exc)
            entry = self._entries.get(slug)
            if entry is not None:
                self._entries[slug] = (time.monotonic() + NEGATIVE_TTL, entry[1])
            return
        if version == self._version:
            self._store(slug, link, time.monotonic())

    def _store(self, slug: str, link: CachedLink | None, now: float) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._evict(now)
        ttl = self._ttl if link is not None else min(self._ttl, NEGATIVE_TTL)
        previous = self._entries.get(slug)
        if link is not None and (previous is None or previous[1] != link):
            self._changed = True
        # Spread the reloads: links first seen together must not all expire in the same tick.
        self._entries[slug] = (now + ttl * (0.75 + random.random() / 4), link)

    def _evict(self, now: float) -> None:
        """Drop expired entries, then the oldest tenth: memory stays bounded under slug scans."""
        self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        for slug in list(self._entries)[: max(1, len(self._entries) // 10)]:
            del self._entries[slug]

    async def _load_once(self, slug: str) -> CachedLink | None:
        """One database lookup per slug at a time, however many clicks wait on it; one begun
        before a change is not joined. The slugs asked for in one turn of the loop are looked
        up in one query: the first clicks on a thousand links, under load, made 556 queries
        instead of 1,033 on SQLite, of 83 ms instead of 111, and were all answered in 8 s
        instead of 12 (redirect bench, a slow day). The query is a task of its own: a waiter
        whose client went away (its request cancelled) does not cancel it for the others."""
        pending = self._loading.get(slug)
        if pending is None or pending[0] != self._version:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[CachedLink | None] = loop.create_future()
            pending = self._loading[slug] = (self._version, future)
            future.add_done_callback(lambda done: self._loaded(slug, done))
            if not self._queued:
                loop.call_soon(self._query_queued)
            self._queued.append((slug, future))
        return await asyncio.shield(pending[1])

    def _loaded(self, slug: str, future: asyncio.Future[CachedLink | None]) -> None:
        if self._loading.get(slug, (0, None))[1] is future:
            del self._loading[slug]
        if not future.cancelled():
            future.exception()  # retrieved: a lookup whose waiters all went away is not an error

    def _query_queued(self) -> None:
        queued, self._queued = self._queued, []
        for start in range(0, len(queued), BATCH):
            task = asyncio.create_task(self._answer(queued[start : start + BATCH]))
            self._querying.add(task)
            task.add_done_callback(self._querying.discard)

    async def _answer(self, waiting: list[tuple[str, asyncio.Future[CachedLink | None]]]) -> None:
        """A slug may wait twice: asked for again after a change, in the same turn."""
        try:
            with LINK_LOOKUP_SECONDS.time():
                slugs = sorted({slug for slug, _ in waiting})
                links = await asyncio.wait_for(self._load(slugs), LOAD_TIMEOUT)
        except asyncio.CancelledError:
            for _, future in waiting:
                future.cancel()
            raise
        except Exception as exc:  # each waiter decides what a failed lookup means
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for slug, future in waiting:
            if not future.done():
                future.set_result(links.get(slug))

    async def _load(self, slugs: list[str]) -> dict[str, CachedLink]:
        async with self._sessionmaker() as session:
            found = await session.scalars(select(Link).where(Link.slug.in_(slugs)))
            return {link.slug: CachedLink.of(link, self._click_id_param) for link in found}
