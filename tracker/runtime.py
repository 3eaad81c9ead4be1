"""What one process holds while it serves: the engine, the caches and the background writers."""

from __future__ import annotations

from tracker.clicks.salts import DailySalts
from tracker.clicks.writer import ClickWriter
from tracker.config import Settings
from tracker.db import create_engine, create_sessionmaker
from tracker.redirect.cache import LinkCache


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)
        dialect = self.engine.dialect.name
        self.salts = DailySalts(self.sessionmaker, dialect)
        self.click_writer = ClickWriter(self.sessionmaker, dialect, settings)
        self.link_cache = LinkCache(
            self.sessionmaker,
            settings.link_cache_ttl,
            settings.click_id_param,
            self.click_writer.pending_human_clicks,
        )

    async def start(self) -> None:
        await self.salts.start()
        self.click_writer.start()

    async def stop(self) -> None:
        """Write every answered click before the process goes."""
        await self.click_writer.stop()
        await self.salts.stop()
        await self.engine.dispose()
