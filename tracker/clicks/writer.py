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
retries with a growing pause; while redirects keep the processors busy, they
wait a while too (headroom.py).

Where it runs (a process of its own under `tracker serve`, or a thread) is
server/writer_host.py's business. Only one writer works on a journal
directory at a time (an flock on `writer.lock`). It publishes its figures and
a heartbeat in `writer.json`, which /metrics and /readyz read. Whoever must
know that clicks arrived (orders waiting for the click they name) subscribes
with an `on_written` hook: the clicks domain knows nothing of orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tracker.clicks import bulk, journal, retention, rollup
from tracker.clicks.figures import Figures
from tracker.clicks.headroom import Headroom
from tracker.clicks.record import ClickRecord
from tracker.db.driver import Database, DriverDatabase

if TYPE_CHECKING:
    from tracker.config import Settings

log = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0
SET_ASIDE = ".set-aside"  # the suffix of journal files the writer will not read

ClicksWritten = Callable[[Database, list[str]], Awaitable[None]]
"""A hook told the ids of a batch once it is committed (new ones and replays alike)."""


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """What the click writer's process reads of the settings, as plain values.

    `tracker serve` hands them to the writer's process (server/writer_host.py)
    as one line of JSON, already read and checked: pydantic-settings, which
    reads and checks the environment, was 9.8 MB of that process's memory
    (idle, measured), and nothing else there needs pydantic.
    """

    database_url: str
    spool_dir: Path
    report_timezone: str
    batch_size: int
    flush_interval: float
    hold_seconds: float
    retention_days: int | None
    attribution_window_days: int  # for the orders waiting for a click the writer writes
    nice: int | str  # "idle", or a nice value
    log_level: str

    @classmethod
    def of(cls, settings: Settings) -> WriterSettings:
        return cls(
            settings.database_url, settings.spool_dir, settings.report_timezone,
            settings.click_batch_size, settings.click_flush_interval, settings.click_hold_seconds,
            settings.click_retention_days, settings.attribution_window_days,
            settings.click_writer_nice, settings.log_level,
        )  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> WriterSettings:
        values = json.loads(text)
        return cls(**{**values, "spool_dir": Path(values["spool_dir"])})


async def write_records(
    database: Database,
    records: list[ClickRecord],
    zone: ZoneInfo,
    on_written: Sequence[ClicksWritten] = (),
) -> int:
    """Insert a batch and its rollup (days cut in ``zone``) in one transaction; returns how
    many were new.

    The hooks run afterwards, each on its own: if one fails the clicks are
    still safe, and what it does must catch up another way (`tracker
    reattribute` for orders).
    """
    if database.postgres:
        await retention.ensure_partitions(
            database, retention.months_of(record.clicked_at_us for record in records)
        )
    rows = bulk.click_rows(records, database.postgres)
    async with database.begin() as connection:
        inserted = await bulk.insert_clicks(connection, rows)
        fresh = [
            (record.link_id, record.clicked_at_us, is_bot, record.visitor_hash)
            for record, is_bot in zip(records, bulk.bot_flags(rows), strict=True)
            if record.id in inserted
        ]
        await rollup.add(connection, fresh, zone)
    for hook in on_written:
        try:
            await hook(database, [record.id for record in records])
        except database.errors as exc:
            log.error("%s failed after clicks were written: %s", hook.__qualname__, exc)
    return len(fresh)


class ClickWriter:
    def __init__(
        self,
        settings: WriterSettings,
        figures: Figures,
        on_written: Sequence[ClicksWritten] = (),
        headroom: Headroom | None = None,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._settings = settings
        self._zone = ZoneInfo(settings.report_timezone)
        self._on_written = on_written
        self._directory = settings.spool_dir
        self._batch_size = settings.batch_size
        self._interval = settings.flush_interval
        self._hold_ns = int(settings.hold_seconds * 1e9)
        # Redirects are still coming while the newest sealed file is this young: the serving
        # processes seal every flush interval while clicks arrive.
        self._arriving_ns = int((settings.flush_interval + 1.0) * 1e9)
        self._headroom = headroom or Headroom()
        self._now_ns = now_ns
        self._figures = figures  # its hooks may count into it too (writer_host.click_writer)
        self._database: DriverDatabase | None = None
        self._passing: asyncio.Lock | None = None

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
            self._database = DriverDatabase(self._settings.database_url)
            self._figures.publish()
            if started is not None:
                started()
            days = self._settings.retention_days
            pruning = None
            if days is not None:
                pruning = asyncio.create_task(
                    retention.keep_pruning(self._database, days, self._passing)
                )
            try:
                await self._loop_until(stopping, orphaned)
                try:
                    await self.write_waiting()
                except self._database.errors as exc:
                    log.error("database unavailable at shutdown; clicks stay journaled: %s", exc)
            finally:
                if pruning is not None:
                    pruning.cancel()
                    await asyncio.gather(pruning, return_exceptions=True)
                self._figures.publish()
                await self._database.close()

    async def _loop_until(self, stopping: asyncio.Event, orphaned: Callable[[], bool]) -> None:
        assert self._database is not None
        pause = self._interval
        while not stopping.is_set() and not orphaned():
            try:
                if self._holding():
                    self._figures.held(self._interval)
                else:
                    await self.write_waiting()
                    self._headroom.restart()
                pause = self._interval
            except self._database.errors as exc:
                pause = min(max(pause * 2, 0.1), _MAX_BACKOFF)
                log.error("clicks not written (%d waiting), retrying: %s", self.waiting, exc)
            self._figures.publish()
            deadline = time.monotonic() + pause
            while not stopping.is_set() and not orphaned() and time.monotonic() < deadline:
                # In slices of a second at most: a dead parent is noticed however long the pause.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), min(1.0, deadline - time.monotonic()))

    def _holding(self) -> bool:
        """Whether to leave the journal for now (headroom.py): the processors are busy while
        redirects keep coming, and no sealed file is older than the hold. What keeps them
        busy without redirects (another writer's backlog, say) holds nothing; shutdown
        writes everything regardless."""
        if not self._hold_ns or not self._headroom.busy():
            return False
        sealed = [journal.sealed_at(path) for path in self._directory.glob(journal.SEALED_PATTERN)]
        now = self._now_ns()
        return bool(sealed) and (
            now - max(sealed) < self._arriving_ns and now - min(sealed) < self._hold_ns
        )

    @property
    def waiting(self) -> int:
        return journal.waiting(self._directory)

    async def write_waiting(self) -> None:
        """One pass over the journal: every sealed file, oldest first, then deleted."""
        if self._passing is None or self._database is None:
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
        assert self._database is not None
        started = time.perf_counter()
        written = await write_records(self._database, batch, self._zone, self._on_written)
        self._figures.batch(time.perf_counter() - started, written)
