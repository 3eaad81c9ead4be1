"""The daily visitor salts, shared through the database and deleted when their day ends.

Every process of a deployment must hash a visitor with the same salt, so the
salt lives in a table; tomorrow's is created a day ahead so midnight never
waits on the database. Once a day is over its salt is deleted, and with it any
way to link that day's visitors to another day's, for anyone, operator
included.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.clock import UNIX_EPOCH, utcnow
from tracker.db.upsert import insert_ignoring_duplicates
from tracker.models import VisitorDay, VisitorSalt

log = logging.getLogger(__name__)

REFRESH_SECONDS = 600.0
RETRY_SECONDS = 15.0
NANOSECONDS_A_DAY = 86_400 * 10**9


class DailySalts:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._salts: dict[date, bytes] = {}
        self._last: tuple[int, bytes] = (-1, b"")  # for_unix_day's latest answer
        self._task: asyncio.Task[None] | None = None

    def for_day(self, day: date) -> bytes:
        """The salt of ``day``; a process-local one if the database was never reachable."""
        salt = self._salts.get(day)
        if salt is None:
            log.warning("no shared visitor salt for %s yet; using a process-local one", day)
            salt = self._salts.setdefault(day, secrets.token_bytes(32))
        return salt

    def for_unix_day(self, day: int) -> bytes:
        """The salt of the day `time.time_ns() // NANOSECONDS_A_DAY` gives: the redirect's clock."""
        last_day, salt = self._last
        if last_day != day:
            salt = self.for_day(UNIX_EPOCH.date() + timedelta(days=day))
            self._last = (day, salt)
        return salt

    async def refresh(self) -> None:
        today = utcnow().date()
        days = [today, today + timedelta(days=1)]
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                insert_ignoring_duplicates(VisitorSalt, session),
                [{"day": day, "salt": secrets.token_bytes(32)} for day in days],
            )
            await session.execute(delete(VisitorSalt).where(VisitorSalt.day < today))
            # Which visitors were seen on days that are over (yesterday kept for late batches).
            await session.execute(delete(VisitorDay).where(VisitorDay.day < today - timedelta(1)))
            rows = await session.execute(
                select(VisitorSalt.day, VisitorSalt.salt).where(VisitorSalt.day.in_(days))
            )
            loaded = {day: bytes(salt) for day, salt in rows}
        self._salts = loaded
        self._last = (-1, b"")

    async def start(self) -> None:
        try:
            await self.refresh()
        except (SQLAlchemyError, OSError) as exc:
            log.error("visitor salts not loaded, will retry: %s", exc)
        self._task = asyncio.create_task(self._keep_fresh(), name="visitor-salts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _keep_fresh(self) -> None:
        delay = REFRESH_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                await self.refresh()
                delay = REFRESH_SECONDS
            except (SQLAlchemyError, OSError) as exc:
                log.error("visitor salts not refreshed, will retry: %s", exc)
                delay = RETRY_SECONDS
