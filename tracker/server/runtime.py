"""What one process holds while it serves, and how its pieces are wired together.

The engine, the link cache, the click journal and, in thread mode, the click
writer; the cache hears of link changes and the orders of written clicks
through the hooks their domains offer.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from tracker import metrics
from tracker.clicks.journal import ClickJournal
from tracker.clicks.record import ClickRecord
from tracker.clicks.salts import DailySalts
from tracker.clicks.writer import WriterSettings, write_records
from tracker.config import Settings
from tracker.db.engine import EngineDatabase, create_engine, create_sessionmaker, reader
from tracker.links.changes import LinkChanges
from tracker.redirect.allowance import ClickAllowances
from tracker.redirect.cache import LinkCache
from tracker.redirect.handler import RedirectHandler
from tracker.server.writer_host import WriterThread, click_writer, on_clicks_written

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.salts = DailySalts(self.sessionmaker)
        self.journal = ClickJournal(settings.spool_dir, settings.click_flush_interval)
        # With click_writer=process, `tracker serve` runs the writer in a process of its own.
        self.click_writer = (
            WriterThread(click_writer(WriterSettings.of(settings)))
            if settings.click_writer == "thread"
            else None
        )
        # Read-only transactions (on SQLite a deferred BEGIN, which never waits for a writer).
        self.readers = create_sessionmaker(reader(self.engine))
        # GET and HEAD requests' sessions: the same deferred BEGIN on SQLite (db/session.py).
        self.safe_requests = create_sessionmaker(reader(self.engine, autocommit=False))
        self.link_cache = LinkCache(
            self.readers,
            settings.link_cache_ttl,
            settings.click_id_param,
            settings.spool_dir,
        )
        self.allowances = ClickAllowances(self.sessionmaker)
        self.link_changes = LinkChanges()
        self.link_changes.subscribe(self.link_cache)
        self._zone = ZoneInfo(settings.report_timezone)
        # A click written before its redirect (click_write=sync) is rarely later than its order;
        # when it is, the credit is this process's decision, counted with the webhooks'.
        self._on_written = on_clicks_written(
            settings.attribution_window_days,
            metrics.ATTRIBUTIONS.labels("click").inc,
            lambda: self.engine,
        )
        self._database = EngineDatabase(self.engine)
        self.redirect = RedirectHandler(
            settings,
            self.link_cache,
            self.allowances,
            self.journal,
            self.salts,
            self.write_click_now if settings.click_write == "sync" else None,
        )

    async def start(self) -> None:
        await self.salts.start()
        await self.journal.open()
        await self.link_cache.start()
        self.link_changes.start(self.engine)
        if self.click_writer is not None:
            self.click_writer.start()

    async def stop(self) -> None:
        """Every answered click into a sealed journal file (and written, with a writer thread)."""
        await self.link_changes.stop()
        await self.allowances.close()
        await self.link_cache.close()
        await self.journal.close()
        if self.click_writer is not None:
            await self.click_writer.stop()
        await self.salts.stop()
        await self.engine.dispose()

    async def write_click_now(self, record: ClickRecord) -> None:
        """`TRACKER_CLICK_WRITE=sync`: in the database before the redirect; journaled on failure."""
        try:
            await write_records(self._database, [record], self._zone, self._on_written)
        except self._database.errors as exc:
            log.warning("synchronous click write failed, journaled instead: %s", exc)
            self.journal.append(record)
