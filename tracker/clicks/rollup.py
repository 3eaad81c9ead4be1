"""The daily rollup: clicks, bot clicks and unique visitors per link and day.

The writer adds every batch to it in the batch's own transaction, counting
only the clicks that were really inserted (a replayed spool adds nothing), so
the rollup always equals what the raw clicks say. Days are cut in
TRACKER_REPORT_TIMEZONE; `tracker rollup rebuild` recomputes it from the raw
clicks after that setting changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tracker import timebuckets
from tracker.clicks import bulk
from tracker.clock import from_unix_micros
from tracker.db.engine import dialect_of
from tracker.models import Click, ClickDay, ClickMonth, VisitorDay


async def add(
    connection: AsyncConnection, clicks: Iterable[tuple[int, int, bool, str]], zone: ZoneInfo
) -> None:
    """Count freshly inserted clicks (link id, Unix microseconds, is_bot, visitor hash) into
    their link's day."""
    humans: Counter[tuple[int, date]] = Counter()
    bots: Counter[tuple[int, date]] = Counter()
    visitors: set[tuple[int, date, str]] = set()
    for link_id, micros, is_bot, visitor_hash in clicks:
        key = (link_id, local_day(micros // 60_000_000, zone))
        if is_bot:
            bots[key] += 1
        else:
            humans[key] += 1
            visitors.add((*key, visitor_hash))
    if not humans and not bots:
        return
    new_visitors = Counter(await bulk.insert_visitors(connection, sorted(visitors)))
    keys = sorted({*humans, *bots})
    await bulk.add_click_days(
        connection, [(*key, humans[key], bots[key], new_visitors[key]) for key in keys]
    )


@lru_cache(maxsize=4096)
def local_day(minute: int, zone: ZoneInfo) -> date:
    """The day a Unix minute falls on in ``zone`` (offsets are whole minutes, so is the cut)."""
    return from_unix_micros(minute * 60_000_000).astimezone(zone).date()


async def prune_visitors(session: AsyncSession, today: date) -> None:
    """Forget which visitors were seen on days that are over (yesterday kept for late batches)."""
    await session.execute(delete(VisitorDay).where(VisitorDay.day < today - timedelta(days=1)))


async def rebuild(session: AsyncSession, zone: ZoneInfo) -> int:
    """Recompute the rollup from the raw clicks, e.g. after TRACKER_REPORT_TIMEZONE changed."""
    for table in (ClickDay, ClickMonth, VisitorDay):
        await session.execute(delete(table))
    span = (
        await session.execute(select(func.min(Click.clicked_at), func.max(Click.clicked_at)))
    ).one()
    if span[0] is None:
        return 0
    start: datetime = span[0]
    end: datetime = span[1] + timedelta(seconds=1)
    day = timebuckets.bucket(Click.clicked_at, "day", zone, start, end, dialect_of(session))
    day = day.label("day")
    human = Click.is_bot.is_(False)
    query = (
        select(
            Click.link_id,
            day,
            func.sum(case((human, 1), else_=0)),
            func.sum(case((human, 0), else_=1)),
            func.count(distinct(case((human, Click.visitor_hash)))),
        )
        .group_by(Click.link_id, day)
        .order_by(Click.link_id, day)
    )
    counts = [
        (link_id, date.fromisoformat(timebuckets.as_key(bucket, "day")), *map(int, counts))
        for link_id, bucket, *counts in await session.execute(query)
    ]
    await bulk.add_click_days(await session.connection(), counts)
    return len(counts)
