"""`tracker bots reclassify`: judge stored clicks again with today's bot rules.

A crawler that the lists learn about next month has already been counted as a
person this month. The stored user agent is all it takes to judge again; the
daily rollup follows in the same transaction as each batch, so reports never
see the clicks and their rollup disagree. Batches are short transactions in
click order: the writer and the reports carry on between them, and the
writer's own additions to the same days are increments that commute with
ours (unique visitors are counted again from the raw clicks of the days that
changed, after their rollup rows are locked).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, delete, distinct, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from tracker.clicks import bulk, rollup
from tracker.clicks.visitor import is_program, read_user_agent
from tracker.clock import as_utc, unix_micros
from tracker.db.engine import raw
from tracker.models import Click, ClickDay, VisitorDay

BATCH = 2_000
# id, link id, time, user agent, is_bot, visitor hash, bot signal
_Stored = Row[str, int, datetime, str | None, bool, str, str | None]


@dataclass
class Outcome:
    judged: int = 0
    now_bots: int = 0
    now_people: int = 0


async def reclassify(
    sessions: async_sessionmaker[AsyncSession],
    zone: ZoneInfo,
    today: date,
    since: datetime | None = None,
    batch: int = BATCH,
    progress: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Re-judge every click from ``since`` (all when None); the rollup follows each batch."""
    outcome = Outcome()
    after: tuple[datetime, str] | None = (since, "") if since is not None else None
    while True:
        async with sessions() as session, session.begin():
            query = select(
                Click.id, Click.link_id, Click.clicked_at, Click.user_agent, Click.is_bot,
                Click.visitor_hash, Click.bot_signal,
            ).order_by(Click.clicked_at, Click.id).limit(batch)  # fmt: skip
            if after is not None:
                at, last_id = after
                query = query.where(
                    or_(Click.clicked_at > at, and_(Click.clicked_at == at, Click.id > last_id))
                )
            rows = (await session.execute(query)).all()
            if not rows:
                return outcome
            await _apply(session, rows, zone, today, outcome)
        after = (as_utc(rows[-1].clicked_at), rows[-1].id)
        if progress is not None:
            progress(outcome)


async def _apply(
    session: AsyncSession, rows: Sequence[_Stored], zone: ZoneInfo, today: date, outcome: Outcome
) -> None:
    outcome.judged += len(rows)
    humans: Counter[tuple[int, date]] = Counter()  # change in human clicks per (link, day)
    lost: dict[tuple[int, date], set[str]] = {}  # visitors whose click turned into a bot's
    changes = []
    for row in rows:
        info = read_user_agent(row.user_agent or "")
        is_bot = is_program(info, row.bot_signal)
        if is_bot == row.is_bot:
            continue
        minute = unix_micros(as_utc(row.clicked_at)) // 60_000_000
        key = (row.link_id, rollup.local_day(minute, zone))
        humans[key] += -1 if is_bot else 1
        if is_bot:
            outcome.now_bots += 1
            lost.setdefault(key, set()).add(row.visitor_hash)
        else:
            outcome.now_people += 1
        changes.append({"id": row.id, "is_bot": is_bot, "device_type": info.device_type})
    if not changes:
        return
    await session.execute(update(Click), changes)  # by primary key, one statement
    keys = list(humans)
    # Locks the rollup rows (in the writer's order) before their visitors are counted again.
    await bulk.add_click_days(
        await raw(await session.connection()),
        [(*key, humans[key], -humans[key], 0) for key in keys],
    )
    recounted = [
        (link_id, day, 0, 0, await _recount_visitors(session, link_id, day, zone, today, lost))
        for link_id, day in keys
    ]
    await bulk.add_click_days(
        await raw(await session.connection()), [row for row in recounted if row[4]]
    )


async def _recount_visitors(
    session: AsyncSession,
    link_id: int,
    day: date,
    zone: ZoneInfo,
    today: date,
    lost: dict[tuple[int, date], set[str]],
) -> int:
    """Count a (link, day)'s visitors again; how many more the rollup has to count (or fewer).

    Keeps `visitor_days` right for the days it still holds."""
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    human = (
        Click.link_id == link_id,
        Click.clicked_at >= start,
        Click.clicked_at < end,
        Click.is_bot.is_(False),
    )
    count = select(func.count(distinct(Click.visitor_hash))).where(*human)
    uniques = (await session.execute(count)).scalar_one()
    rolled_up = (ClickDay.link_id == link_id, ClickDay.day == day)
    before = (await session.execute(select(ClickDay.unique_visitors).where(*rolled_up))).scalar()
    if day >= today - timedelta(days=1):  # visitor_days no longer holds older ones (salts.py)
        await _list_visitors(session, link_id, day, human, lost.get((link_id, day), set()))
    return int(uniques) - (before or 0)


async def _list_visitors(
    session: AsyncSession,
    link_id: int,
    day: date,
    human: tuple[ColumnElement[bool], ...],
    lost: set[str],
) -> None:
    listed = select(Click.visitor_hash).where(*human).distinct()
    people = set((await session.execute(listed)).scalars())
    await bulk.insert_visitors(
        await raw(await session.connection()), sorted((link_id, day, hash_) for hash_ in people)
    )
    gone = lost - people
    if gone:
        await session.execute(
            delete(VisitorDay).where(
                VisitorDay.link_id == link_id,
                VisitorDay.day == day,
                VisitorDay.visitor_hash.in_(sorted(gone)),
            )
        )
