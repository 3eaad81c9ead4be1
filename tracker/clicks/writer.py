"""The click writer: redirects hand it clicks, it writes them in batches and loses none.

A redirect only appends to an in-memory queue. The writer runs on a thread of
its own, with its own event loop and its own database engine: on the serving
loop, a busy server gave each of the batch's awaits one turn in 64 requests,
and the queue grew faster than it was written (bench/redirect.py: 33,000 of
120,000 clicks written during the load, the rest held in memory). On its own
thread it gets its share of the interpreter whatever the load.

When the database is away, or the clicks come faster than it takes them,
the queue grows; past `click_memory_limit` it is spooled to local disk
(fsynced, renamed into place), and spooled files are replayed once the queue
is written. On shutdown the queue is drained, or spooled if the database
cannot take it. Inserts ignore click ids already present, so a replay after a
half-finished write is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tracker import metrics
from tracker.clicks import bulk, rollup
from tracker.clicks.visitor import MAX_REFERRER, MAX_USER_AGENT, read_user_agent, referrer_host
from tracker.config import Settings
from tracker.db import create_engine, create_sessionmaker

log = logging.getLogger(__name__)

_WRITE_ERRORS = (SQLAlchemyError, OSError, TimeoutError)
_MAX_BACKOFF = 5.0


class PendingClick(NamedTuple):
    """A click as the redirect saw it: no IP address, the user agent not yet parsed.

    Queued as a plain tuple of plain values (no dict, no object), which the
    cyclic garbage collector stops tracking: a backlog of queued clicks as
    objects made full collections walk every one of them (100 ms pauses, the
    redirect's p99, with tens of thousands queued).
    """

    id: str
    link_id: int
    clicked_at: datetime
    user_agent: str
    referrer: str | None
    visitor_hash: str
    country: str | None
    query: tuple[tuple[str, str], ...] | None  # the UTM parameters of the short URL
    # Known at request time only for links with max_clicks, which must count humans.
    is_bot: bool | None = None

    def to_row(self) -> dict[str, Any]:
        agent = read_user_agent(self.user_agent)
        referrer = self.referrer[:MAX_REFERRER] if self.referrer else None
        return {
            "id": self.id,
            "link_id": self.link_id,
            "clicked_at": self.clicked_at,
            "referrer_host": referrer_host(referrer),
            "referrer": referrer,
            "user_agent": self.user_agent[:MAX_USER_AGENT] or None,
            "device_type": agent.device_type,
            "browser": agent.browser,
            "os": agent.os,
            "is_bot": agent.is_bot if self.is_bot is None else self.is_bot,
            "visitor_hash": self.visitor_hash,
            "country": self.country,
            "query": dict(self.query) if self.query else None,
        }

    def to_json(self) -> str:
        data = self._asdict()
        data["clicked_at"] = self.clicked_at.isoformat()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> PendingClick:
        data = json.loads(line)
        data["clicked_at"] = datetime.fromisoformat(data["clicked_at"])
        query = data.get("query")
        if query:  # pairs; a dict in spool files of earlier versions
            data["query"] = tuple(
                (key, value) for key, value in (query.items() if isinstance(query, dict) else query)
            )
        return cls(**data)


AfterWrite = Callable[[AsyncSession, list[str]], Awaitable[None]]


class ClickWriter:
    def __init__(self, settings: Settings, after_write: AfterWrite | None = None) -> None:
        self._settings = settings
        self._after_write = after_write
        self._zone = ZoneInfo(settings.report_timezone)
        self._batch_size = settings.click_batch_size
        self._interval = settings.click_flush_interval
        self._memory_limit = settings.click_memory_limit
        self._spool_dir = settings.spool_dir
        # Shared with the serving loop: deque appends and pops are atomic. Exact tuples,
        # which the garbage collector untracks (see PendingClick).
        self._queue: deque[tuple[Any, ...]] = deque()
        self._humans_lock = threading.Lock()
        self._pending_humans: Counter[int] = Counter()
        self._closing = False
        self._wake_requested = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        # The writer thread's own; set when it starts.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._flushing: asyncio.Lock | None = None
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None

    # -- the redirect's side -------------------------------------------------

    def enqueue(self, click: PendingClick) -> None:
        self._queue.append(tuple(click))
        if click.is_bot is False:
            with self._humans_lock:
                self._pending_humans[click.link_id] += 1
        if len(self._queue) >= self._batch_size and not self._wake_requested:
            self._wake_requested = True
            self._wake_writer()

    async def write_now(self, click: PendingClick) -> None:
        """Write one click before answering (`TRACKER_CLICK_WRITE=sync`); queue it if that fails."""
        try:
            await self._on_writer(self._write([click]))
        except _WRITE_ERRORS as exc:
            log.warning("synchronous click write failed, queued instead: %s", exc)
            self.enqueue(click)

    async def flush(self) -> None:
        """Write everything queued now; raises if the database refuses (the clicks stay queued).

        Waits for a batch the writer is writing, so that afterwards every click
        enqueued before the call is in the database.
        """
        if self._thread is None and not self._queue:
            return  # stopped: the queue was drained or spooled
        await self._on_writer(self._flush_and_replay())

    def pending_human_clicks(self, link_id: int) -> int:
        return self._pending_humans[link_id]

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _wake_writer(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _on_writer(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the writer's loop and wait for it on the caller's."""
        if self._loop is None or self._thread is None:
            work.close()
            raise RuntimeError("the click writer is not running")
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="click-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._loop is None:
            raise RuntimeError("the click writer did not start; its thread logged why")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closing

    async def stop(self) -> None:
        """Drain the queue; whatever the database will not take goes to the spool."""
        if self._thread is None:
            return
        self._closing = True
        self._wake_writer()
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        finally:
            self._ready.set()  # never leave start() waiting, whatever happened

    async def _main(self) -> None:
        engine = create_engine(self._settings.database_url)
        self._sessionmaker = create_sessionmaker(engine)
        self._engine = engine
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        try:
            await self._run()
            try:
                await self._flush()
            except _WRITE_ERRORS as exc:
                log.error(
                    "database unavailable at shutdown, spooling %d clicks: %s", self.queued, exc
                )
                await self._spool_queue()
        finally:
            self._loop = None
            await engine.dispose()

    # -- the writer's side -------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        backoff = self._interval
        await self._replay_spool_safely()
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            self._wake_requested = False
            metrics.CLICKS_QUEUED.set(len(self._queue))
            if self._closing:
                return
            try:
                await self._flush()
                backoff = self._interval
            except _WRITE_ERRORS as exc:
                backoff = min(max(backoff * 2, 0.1), _MAX_BACKOFF)
                log.error("click batch not written (%d queued), retrying: %s", self.queued, exc)
                await self._bound_memory()
                continue
            if self._spool_files():
                await self._replay_spool_safely()

    async def _flush_and_replay(self) -> None:
        """The queue, then whatever it spilled to the spool while it was written."""
        await self._flush()
        if self._spool_files():
            await self._replay_spool()

    async def _flush(self) -> None:
        assert self._flushing is not None
        async with self._flushing:
            while self._queue:
                count = min(self._batch_size, len(self._queue))
                batch = [PendingClick._make(self._queue.popleft()) for _ in range(count)]
                try:
                    await self._write(batch)
                except BaseException:
                    self._queue.extendleft(tuple(click) for click in reversed(batch))
                    raise
                self._forget_humans(batch)
                await self._bound_memory()  # coming in faster than the database takes them

    async def _bound_memory(self) -> None:
        """Past the memory limit, whatever waits goes to the disk spool."""
        if len(self._queue) > self._memory_limit:
            await self._spool_queue()

    def _forget_humans(self, batch: list[PendingClick]) -> None:
        """Written (or spooled) humans are no longer pending; the database now counts them."""
        with self._humans_lock:
            for click in batch:
                if click.is_bot is False:
                    self._pending_humans[click.link_id] -= 1
            self._pending_humans = +self._pending_humans  # drops the zeros

    async def _write(self, batch: list[PendingClick]) -> None:
        assert self._engine is not None and self._sessionmaker is not None
        rows = [click.to_row() for click in batch]
        with metrics.CLICK_BATCH_SECONDS.time():
            # Core statements on a connection: the ORM's bulk machinery costs more than the insert.
            async with self._engine.begin() as connection:
                inserted = await bulk.insert_clicks(connection, rows)
                fresh = [row for row in rows if row["id"] in inserted]
                await rollup.add(connection, fresh, self._zone)
        metrics.CLICKS_WRITTEN.inc(len(fresh))
        if self._after_write is not None:
            try:
                async with self._sessionmaker() as session, session.begin():
                    await self._after_write(session, [click.id for click in batch])
            except _WRITE_ERRORS as exc:  # the clicks are safe; `tracker reattribute` can catch up
                log.error("orders waiting for these clicks not credited yet: %s", exc)

    # -- the disk spool --------------------------------------------------------

    def _spool_files(self) -> list[Path]:
        if not self._spool_dir.is_dir():
            return []
        return sorted(self._spool_dir.glob("clicks-*.jsonl"))

    async def _spool_queue(self) -> None:
        # Exactly the clicks queued now: the serving loop may be appending meanwhile.
        batch = [PendingClick._make(self._queue.popleft()) for _ in range(len(self._queue))]
        if not batch:
            return
        try:
            self._spool_write(batch)
        except BaseException:
            self._queue.extendleft(tuple(click) for click in reversed(batch))
            raise
        self._forget_humans(batch)
        metrics.CLICKS_SPOOLED.inc(len(batch))
        log.warning("spooled %d clicks to %s", len(batch), self._spool_dir)

    def _spool_write(self, batch: list[PendingClick]) -> None:
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        name = f"clicks-{os.getpid()}-{batch[0].clicked_at.timestamp():.6f}-{len(batch)}"
        temporary = self._spool_dir / f".{name}.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            handle.writelines(click.to_json() + "\n" for click in batch)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(self._spool_dir / f"{name}.jsonl")

    async def _replay_spool_safely(self) -> None:
        try:
            await self._replay_spool()
        except _WRITE_ERRORS as exc:
            log.error("spooled clicks not replayed yet: %s", exc)

    async def _replay_spool(self) -> None:
        for path in self._spool_files():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                continue  # another process replayed it
            clicks = [PendingClick.from_json(line) for line in lines if line]
            for start in range(0, len(clicks), self._batch_size):
                await self._write(clicks[start : start + self._batch_size])
            path.unlink(missing_ok=True)
            log.info("replayed %d spooled clicks from %s", len(clicks), path.name)
