"""Where the click writer runs, and what it tells others: a thread, a process, a supervisor.

`tracker serve` runs the writer as a separate process (this module, run with
`python -m`) at a lower CPU priority: under a burst the redirects get the
processor and the journal absorbs what the writer has not written yet.
Elsewhere (tests, scripts, TRACKER_CLICK_WRITER=thread) it runs on a thread
of the serving process. Either way it is built here, with the orders
subscribed to the clicks it writes: this is the edge that wires the domains.

The process imports neither FastAPI nor the API's schemas, nor pydantic:
`tracker serve` hands it its settings, already read, as the first line of its
standard input (clicks.writer.WriterSettings). Nor SQLAlchemy, unless an order
waits for a click it writes (db/driver.py): idle it holds 39–40 MB where
`tracker serve` holds 88–91.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tracker import logs
from tracker.clicks import visitor
from tracker.clicks.figures import Figures
from tracker.clicks.writer import ClicksWritten, ClickWriter, WriterSettings
from tracker.db.driver import Database
from tracker.orders import waiting

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tracker.config import Settings

log = logging.getLogger(__name__)


def on_clicks_written(
    attribution_window_days: int,
    credited: Callable[[int], None],
    engine: Callable[[], AsyncEngine],
) -> list[ClicksWritten]:
    """Who hears that clicks were written: orders that named a click before it arrived, each
    credit then told to ``credited``.

    Whether any order waits is asked through the driver; only then is the ORM
    loaded, and ``engine`` asked for, to credit them (attribution's rules are
    the webhooks' own).
    """
    window = timedelta(days=attribution_window_days)

    async def credit_waiting_orders(database: Database, click_ids: list[str]) -> None:
        async with database.connect() as connection:
            order_ids = await waiting.orders_waiting_for(connection, click_ids, window)
        if not order_ids:
            return
        from tracker.db.engine import create_sessionmaker
        from tracker.orders import attribution

        async with create_sessionmaker(engine())() as session, session.begin():
            credited(await attribution.attribute_waiting(session, order_ids, window))

    return [credit_waiting_orders]


def click_writer(settings: WriterSettings) -> ClickWriter:
    """A writer whose late credits go into its published figures (/metrics reads them).

    Its engine for them is made at the first late credit, and opens a connection
    for each: they come seldom (after an outage or a backlog), and SQLAlchemy
    costs the writer's process 28 MB from the moment it is imported.
    """
    figures = Figures(settings.spool_dir)

    @functools.cache
    def engine() -> AsyncEngine:
        from tracker.db.engine import create_engine

        return create_engine(settings.database_url, pooled=False)

    hooks = on_clicks_written(settings.attribution_window_days, figures.credited_late, engine)
    return ClickWriter(settings, figures, hooks)


class WriterThread:
    """The writer on a thread of the serving process, with an event loop of its own."""

    def __init__(self, writer: ClickWriter) -> None:
        self.writer = writer
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

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
        await _on(self._loop, self.writer.write_waiting())

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._thread_run())
        finally:
            self._ready.set()  # never leave start() waiting, whatever happened

    async def _thread_run(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        try:
            await self.writer.run(self._stopping, started=self._ready.set)
        finally:
            self._loop = None


async def _on(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` on ``loop`` (another thread's) and wait for it on the caller's."""
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


def run_process(settings: WriterSettings, exit_with_parent: bool) -> None:
    """`tracker write-clicks`: until SIGTERM or SIGINT, then a last pass.

    Under `tracker serve` (``exit_with_parent``) the signals are not its to obey:
    systemd, `kill -- -PGID` and container runtimes signal the whole process
    group, and a writer that stopped with the server would make its last pass
    before the server had sealed its journal. It stops when `tracker serve`
    closes its standard input instead, after the server is done, or when the
    server dies (the pipe closes with it).
    """
    _lower_priority(settings.nice)
    # As the serving process does: the matchers built and the start-up heap frozen before the
    # first batch, so that the collector's full passes never walk them again.
    visitor.load_parsers()
    gc.collect()
    gc.freeze()

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        if exit_with_parent:
            for ignored in (signal.SIGTERM, signal.SIGINT):
                signal.signal(ignored, signal.SIG_IGN)
            loop.add_reader(sys.stdin.fileno(), _until_closed, stopping)
        else:
            for stop_signal in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(stop_signal, stopping.set)
        await click_writer(settings).run(stopping, exit_with_parent)

    asyncio.run(main())


def _lower_priority(nice: int | str) -> None:
    """``idle``: SCHED_IDLE, so that a redirect waking up takes the processor from the writer
    at once. A nice value alone, even 19, leaves the writer its slice: on SQLite, under the
    redirect bench, 0.50 of the ceiling at nice 10 or 19, 0.60-0.61 at idle
    (bench/README.md). Threads started afterwards (aiosqlite's) inherit either."""
    with contextlib.suppress(OSError):  # a sandbox may refuse; the writer runs all the same
        if isinstance(nice, int):
            os.nice(nice)
        else:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _until_closed(stopping: asyncio.Event) -> None:
    """Standard input readable: `tracker serve` closed it (or died). Nothing is sent after
    the settings' line."""
    if not os.read(sys.stdin.fileno(), 512):
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        stopping.set()


_COMMAND = (sys.executable, "-m", "tracker.server.writer_host")
STOP_TIMEOUT = 120.0  # how long `tracker serve` waits for the writer's last pass


class WriterProcess:
    """`tracker write-clicks` under `tracker serve`: restarted if it dies, drained on stop."""

    def __init__(self, settings: Settings) -> None:
        self._handed = (WriterSettings.of(settings).to_json() + "\n").encode()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the process is started and stopped under it
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="writer-process", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close the writer's input, then wait while it writes what the serving processes sealed
        on their way out. A stop before the writer ever ran starts one for that last pass."""
        with self._lock:
            self._stopping.set()
            process = self._process
            if process is None or process.poll() is not None:
                process = self._started()
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("click writer still busy after %.0f s; its files stay journaled", timeout)
            process.kill()
        self._thread.join()

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = self._started()
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.error("click writer exited (%s); starting another in a second", code)
            self._stopping.wait(1.0)

    def _started(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(_COMMAND, stdin=subprocess.PIPE)
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died at once: _supervise says so
            process.stdin.write(self._handed)
            process.stdin.flush()
        return process


if __name__ == "__main__":
    handed = WriterSettings.from_json(sys.stdin.buffer.readline().decode())
    logs.configure(handed.log_level)
    run_process(handed, exit_with_parent=True)
