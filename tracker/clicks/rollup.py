"""The daily rollup: clicks, bot clicks and unique visitors per link and day.

The writer adds every batch to it in the batch's own transaction, counting
only the clicks that were really inserted (a replayed spool adds nothing), so
the rollup always equals what the raw clicks say. Days are cut in
TRACKER_REPORT_TIMEZONE; `tracker rollup rebuild` recomputes it from the raw
clicks after that setting changes (rebuild.py). What is here runs in the
writer's process, which holds no SQLAlchemy (db/driver.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

from tracker.clicks import bulk
from tracker.clock import from_unix_micros
from tracker.db.driver import Connection


async def add(
    connection: Connection, clicks: Iterable[tuple[int, int, bool, str]], zone: ZoneInfo
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
    await bulk.add_click_days(
        connection,
        [(*key, humans[key], bots[key], new_visitors[key]) for key in {*humans, *bots}],
    )


@lru_cache(maxsize=4096)
def local_day(minute: int, zone: ZoneInfo) -> date:
    """The day a Unix minute falls on in ``zone`` (offsets are whole minutes, so is the cut)."""
    return from_unix_micros(minute * 60_000_000).astimezone(zone).date()
