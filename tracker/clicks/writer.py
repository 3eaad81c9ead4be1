"""The click writer: sealed journal files into the database, in batches, losing none.

Redirects put their clicks in the journal (journal.py); the writer reads the
sealed files oldest first, writes their clicks in transactions of
`click_batch_size`, and deletes each file once all its clicks are in. Large
transactions matter on SQLite: the random click ids scatter each batch over
the primary key's pages, and every page a transaction touches is written to
the WAL again (500 clicks a transaction: 86 µs of writer CPU a click; 5,000:
49 µs, bench-sized data). A crash
between the insert and the delete replays the file: inserts skip click ids
already present and the rollup counts only the clicks really inserted, so a
replay adds nothing. While the database is away the files wait, and the writer
retries with a growing pause.

`tracker serve` runs the writer as a separate process (`tracker write-clicks`)
at a lower CPU priority: under a burst the redirects get the processor and the
journal absorbs what the writer has not written yet. Elsewhere (tests, scripts,
TRACKER_CLICK_WRITER=thread) it runs on a thread of the serving process. Only
one writer works on a journal directory at a time (an flock on `writer.lock`).
It publishes its figures and a heartbeat in `writer.json`, which /metrics and
/readyz read.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker import logs
from tracker.clicks import bulk, journal, rollup, visitor
from tracker.clicks.figures import Figures
from tracker.clicks.record import ClickRecord
from tracker.config import Settings, get_settings
from tracker.db import create_engine, create_sessionmaker
from tracker.orders import attribution

log = logging.getLogger(__name__)

WRITE_ERRORS = (SQLAlchemyError, OSError, TimeoutError)
_MAX_BACKOFF = 5.0
SET_ASIDE = ".set-aside"  # the suffix of journal files the writer will not read


async def write_records(engine: AsyncEngine, records: list[ClickRecord], settings: Settings) -> int:
    """Insert a batch and its rollup in one transaction; returns how many were new.

    Orders that named a click before it was written are credited afterwards,
    in a transaction of their own: if that fails the clicks are still safe, and
    `tracker reattribute` can catch up.
    """
    rows = bulk.click_rows(records, engine.dialect.name == "postgresql")
    # Core statements on a connection: the ORM's bulk machinery costs more than the insert.
    async with engine.begin() as connection:
        inserted = await bulk.insert_clicks(connection, rows)
        fresh = [
            (record.link_id, record.clicked_at_us, is_bot, record.visitor_hash)
            for record, is_bot in zip(records, bulk.bot_flags(rows), strict=True)
            if record.id in inserted
        ]
        await rollup.add(connection, fresh, ZoneInfo(settings.report_timezone))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await attribution.attribute_late_clicks(
                session,
                [record.id for record in records],
                timedelta(days=settings.attribution_window_days),
            )
    except WRITE_ERRORS as exc:
        log.error("orders waiting for these clicks not credited yet: %s", exc)
    return len(fresh)


class ClickWriter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._directory = settings.spool_dir
        self._batch_size = settings.click_batch_size
        self._interval = settings.click_flush_interval
        self._figures = Figures(self._directory)
        self._engine: AsyncEngine | None = None
        self._passing: asyncio.Lock | None = None
        # Set when hosted on a thread (start()); a process runs run() on its own loop.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    async def run(
        self,
        stopping: asyncio.Event,
        exit_with_parent: bool = False,
        started: Callable[[], None] | None = None,
    ) -> None:
        """Write what waits every `click_flush_interval` until ``stopping``, then once more."""
        self._directory.mkdir(parents=True, exist_ok=True)
        self._passing = asyncio.Lock()
        parent = os.getppid()

        def orphaned() -> bool:  # `tracker serve` was killed: finish, do not linger
            return exit_with_parent and os.getppid() != parent

        with (self._directory / "writer.lock").open("w") as lock:
            while not journal.try_lock(lock.fileno()):
                if started is not None:
                    started()  # a writer waiting for the lock is running too
                log.warning("another click writer works on %s; waiting", self._directory)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 5.0)
                if stopping.is_set():
                    return
            self._engine = create_engine(self._settings.database_url)
            self._figures.publish()
            if started is not None:
                started()
            try:
                await self._loop_until(stopping, orphaned)
                try:
                    await self.write_waiting()
                except WRITE_ERRORS as exc:
                    log.error("database unavailable at shutdown; clicks stay journaled: %s", exc)
            finally:
                self._figures.publish()
                await self._engine.dispose()

    async def _loop_until(self, stopping: asyncio.Event, orphaned: Callable[[], bool]) -> None:
        pause = self._interval
        while not stopping.is_set() and not orphaned():
            try:
                await self.write_waiting()
                pause = self._interval
            except WRITE_ERRORS as exc:
                pause = min(max(pause * 2, 0.1), _MAX_BACKOFF)
                log.error("clicks not written (%d waiting), retrying: %s", self.waiting, exc)
            self._figures.publish()
            deadline = time.monotonic() + pause
            while not stopping.is_set() and not orphaned() and time.monotonic() < deadline:
                # In slices of a second at most: a dead parent is noticed however long the pause.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), min(1.0, deadline - time.monotonic()))

    @property
    def waiting(self) -> int:
        return journal.waiting(self._directory)

    async def write_waiting(self) -> None:
        """One pass over the journal: every sealed file, oldest first, then deleted."""
        if self._passing is None or self._engine is None:
            raise RuntimeError("the click writer has not started")
        async with self._passing:
            journal.seal_orphans(self._directory)
            for path in sorted(self._directory.glob(journal.SEALED_PATTERN)):
                await self._write_file(path)

    async def _write_file(self, path: Path) -> None:
        try:
            clicks = journal.read_records(path)
        except FileNotFoundError:
            return
        except journal.NotAJournal as exc:
            # Not ours, or of a version we do not know: set aside for a person, not retried.
            log.error("%s renamed to %s: %s", path.name, path.name + SET_ASIDE, exc)
            path.rename(path.with_name(path.name + SET_ASIDE))
            return
        for start in range(0, len(clicks), self._batch_size):
            await self._write_batch(clicks[start : start + self._batch_size])
        path.unlink(missing_ok=True)
        self._figures.publish()  # a heartbeat between files, however long the backlog

    async def _write_batch(self, batch: list[ClickRecord]) -> None:
        assert self._engine is not None
        started = time.perf_counter()
        written = await write_records(self._engine, batch, self._settings)
        self._figures.batch(time.perf_counter() - started, written)

    # -- on a thread of the serving process ------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="click-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._loop is None:
            raise RuntimeError("the click writer did not start; its thread logged why")

    async def stop(self) -> None:
        if self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def flush(self) -> None:
        """Write every sealed file now; raises if the database refuses (the files stay)."""
        if self._loop is None:
            raise RuntimeError("the click writer is not running")
        await _on(self._loop, self.write_waiting())

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._thread_run())
        finally:
            self._ready.set()  # never leave start() waiting, whatever happened

    async def _thread_run(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        try:
            await self.run(self._stopping, started=self._ready.set)
        finally:
            self._loop = None


async def _on(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` on ``loop`` (another thread's) and wait for it on the caller's."""
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


def run_process(settings: Settings, exit_with_parent: bool) -> None:
    """`tracker write-clicks`: until SIGTERM (or SIGINT when alone), then a last pass."""
    with contextlib.suppress(OSError):
        os.nice(settings.click_writer_nice)
    # As the serving process does: the matchers built and the start-up heap frozen before the
    # first batch, so that the collector's full passes never walk them again.
    visitor.load_parsers()
    gc.collect()
    gc.freeze()

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        if exit_with_parent:
            # Ctrl-C reaches the whole process group: `tracker serve` says when to stop.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        else:
            loop.add_signal_handler(signal.SIGINT, stopping.set)
        await ClickWriter(settings).run(stopping, exit_with_parent)

    asyncio.run(main())


class WriterProcess:
    """`tracker write-clicks` under `tracker serve`: restarted if it dies, drained on stop."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="writer-process", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        """SIGTERM, then wait while it writes what the serving processes sealed on their way out."""
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("click writer still busy after %.0f s; its files stay journaled", timeout)
                process.kill()
        self._thread.join()

    def _supervise(self) -> None:
        # This module, not the `tracker` command: without the CLI's imports it starts in
        # half the time and some 17 MB smaller.
        command = [sys.executable, "-m", "tracker.clicks.writer", "--exit-with-parent"]
        while not self._stopping.is_set():
            self._process = subprocess.Popen(command)
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.error("click writer exited (%s); starting another in a second", code)
            self._stopping.wait(1.0)


if __name__ == "__main__":
    settings = get_settings()
    logs.configure(settings.log_level)
    run_process(settings, exit_with_parent="--exit-with-parent" in sys.argv[1:])
