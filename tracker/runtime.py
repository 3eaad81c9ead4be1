"""What one process holds while it serves: the engine, the caches and the background writers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tracker.clicks.salts import DailySalts
from tracker.clicks.writer import ClickWriter
from tracker.config import Settings
from tracker.db import create_engine, create_sessionmaker, reader
from tracker.orders import attribution
from tracker.redirect.cache import LinkCache


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)
        dialect = self.engine.dialect.name
        self.salts = DailySalts(self.sessionmaker, dialect)
        self.click_writer = ClickWriter(settings, after_write=self._credit_late_clicks)
        self.link_cache = LinkCache(
            create_sessionmaker(reader(self.engine)),
            settings.link_cache_ttl,
            settings.click_id_param,
            self.click_writer.pending_human_clicks,
        )

    async def _credit_late_clicks(self, session: AsyncSession, click_ids: list[str]) -> None:
        """Orders that named a click before it was written are credited once it is."""
        window = timedelta(days=self.settings.attribution_window_days)
        await attribution.attribute_late_clicks(session, click_ids, window)

    async def start(self) -> None:
        await self.salts.start()
        self.click_writer.start()

    async def stop(self) -> None:
        """Write every answered click before the process goes."""
        await self.link_cache.close()
        await self.click_writer.stop()
        await self.salts.stop()
        await self.engine.dispose()
