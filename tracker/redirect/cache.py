"""Slug -> live link, held in process memory so that a redirect rarely touches the database.

Entries live `link_cache_ttl` seconds (unknown slugs a shorter time, so a link
minted by another process is found quickly); changes made through this
process's API drop their entry at once. When the database is away, an expired
entry is served on: redirects keep working for every link this process knows.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.clock import unix_micros
from tracker.db.engine import DATABASE_ERRORS
from tracker.links.utm import UTM_FIELDS, Segments, destination, override_segments, split_query
from tracker.metrics import LINK_LOOKUP_SECONDS
from tracker.models import Click, Link

log = logging.getLogger(__name__)

NEGATIVE_TTL = 2.0
LOAD_TIMEOUT = 5.0
MAX_ENTRIES = 200_000


class Unknown(enum.Enum):
    """What `LinkCache.peek` answers for a slug it holds nothing about, not even its absence."""

    SLUG = enum.auto()


UNKNOWN = Unknown.SLUG


@dataclass(slots=True)
class CachedLink:
    id: int
    redirect_status: int
    base: str  # the destination without query and fragment
    segments: Segments  # the destination's query, without the click id parameter
    click_prefix: str  # base, query and "<param>=": a click id completes it
    suffix: str  # "#fragment" or ""
    gone: bool  # disabled or deleted
    expires_ns: int | None  # Unix time in nanoseconds, as time.time_ns() gives it
    max_clicks: int | None
    human_clicks: int

    def is_live(self, now_ns: int) -> bool:
        if self.gone or (self.expires_ns is not None and now_ns >= self.expires_ns):
            return False
        return self.max_clicks is None or self.human_clicks < self.max_clicks

    def click_location(self, forwarded: Segments, click_param: str) -> str:
        """The Location up to its click id: the click id, then `suffix`, complete it.

        The short URL's own parameters are merged in and win. The click id and its
        parameter name are URL-safe by construction.
        """
        if not forwarded:
            return self.click_prefix
        parts = override_segments(self.segments, forwarded)
        parts.append(f"{click_param}=")
        return f"{self.base}?{'&'.join(parts)}"

    def location(self, forwarded: Segments) -> str:
        """The Location without a click id (a HEAD request logs no click)."""
        query = "&".join(override_segments(self.segments, forwarded))
        return f"{self.base}?{query}{self.suffix}" if query else f"{self.base}{self.suffix}"

    @classmethod
    def of(cls, link: Link, click_id_param: str, human_clicks: int) -> CachedLink:
        target = urlsplit(destination(link.url, {f: getattr(link, f) for f in UTM_FIELDS}))
        # Drop a click id parameter the shop URL may carry; ours is appended per click.
        segments = tuple(s for s in split_query(target.query) if s[0] != click_id_param)
        base = urlunsplit(target._replace(query="", fragment=""))
        query = "&".join(segment for _, segment in segments)
        return cls(
            id=link.id,
            redirect_status=link.redirect_status,
            base=base,
            segments=segments,
            click_prefix=f"{base}?{query + '&' if query else ''}{click_id_param}=",
            suffix=f"#{target.fragment}" if target.fragment else "",
            gone=link.disabled or link.deleted_at is not None,
            expires_ns=None if link.expires_at is None else unix_micros(link.expires_at) * 1000,
            max_clicks=link.max_clicks,
            human_clicks=human_clicks,
        )


class LinkCache:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        ttl: float,
        click_id_param: str,
        pending_human_clicks: Callable[[int], int],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ttl = ttl
        self._click_id_param = click_id_param
        self._pending_human_clicks = pending_human_clicks
        self._entries: dict[str, tuple[float, CachedLink | None]] = {}
        self._loading: dict[str, asyncio.Future[CachedLink | None]] = {}
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
            task = asyncio.create_task(self._refresh(slug, self._version))
            self._refreshing.add(task)
            task.add_done_callback(self._refreshing.discard)
        return entry[1]

    async def get(self, slug: str) -> CachedLink | None:
        """The link, or None if no such slug; raises only for an unknown slug in an outage."""
        link = self.peek(slug)
        if link is not UNKNOWN:
            return link
        version = self._version
        link = await self._load_once(slug)
        if version == self._version:
            self._store(slug, link, time.monotonic())
        return link

    @property
    def holds_links(self) -> bool:
        """Whether any link is in memory: redirects it can answer without the database."""
        return any(entry[1] is not None for entry in self._entries.values())

    def forget(self, *slugs: str) -> None:
        """Drop entries changed through this process; a reload already under way is discarded."""
        self._version += 1
        for slug in slugs:
            self._entries.pop(slug, None)

    async def close(self) -> None:
        for task in list(self._refreshing):
            task.cancel()
        await asyncio.gather(*self._refreshing, return_exceptions=True)

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
        # Spread the reloads: links first seen together must not all expire in the same tick.
        self._entries[slug] = (now + ttl * (0.75 + random.random() / 4), link)

    def _evict(self, now: float) -> None:
        """Drop expired entries, then the oldest tenth: memory stays bounded under slug scans."""
        self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        for slug in list(self._entries)[: max(1, len(self._entries) // 10)]:
            del self._entries[slug]

    async def _load_once(self, slug: str) -> CachedLink | None:
        """One database lookup per slug at a time, however many clicks wait on it."""
        pending = self._loading.get(slug)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedLink | None] = asyncio.get_running_loop().create_future()
        self._loading[slug] = future
        try:
            with LINK_LOOKUP_SECONDS.time():
                link = await asyncio.wait_for(self._load(slug), LOAD_TIMEOUT)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, get it too
            raise
        else:
            future.set_result(link)
            return link
        finally:
            del self._loading[slug]

    async def _load(self, slug: str) -> CachedLink | None:
        async with self._sessionmaker() as session:
            link = await session.scalar(select(Link).where(Link.slug == slug))
            if link is None:
                return None
            humans = 0
            if link.max_clicks is not None:
                written = await session.scalar(
                    select(func.count())
                    .select_from(Click)
                    .where(Click.link_id == link.id, Click.is_bot.is_(False))
                )
                humans = (written or 0) + self._pending_human_clicks(link.id)
        return CachedLink.of(link, self._click_id_param, humans)
