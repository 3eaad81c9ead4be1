"""The report's SQL: one grouped query per metric family, on SQLite and PostgreSQL alike.

Clicks (from the daily rollup), orders with revenue, refunds and spend are
each aggregated by the database, grouped by the report's dimension;
`service.py` only joins the handful of result rows. Medians do not add up, so
the orders' query also hands back each row's click-to-order gaps, and the
medians are taken here. Time bucketing lives in `timebuckets.py`.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    String,
    Subquery,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from tracker import timebuckets
from tracker.clock import utcnow
from tracker.db.engine import Dialect
from tracker.links.utm_rollup import FIELDS as UTM_FIELDS
from tracker.links.utm_rollup import NONE
from tracker.models import (
    HAS_REFUNDS,
    REFUND_OF_ORDER,
    Click,
    ClickDay,
    ClickMonth,
    Link,
    LinkTag,
    Order,
    Refund,
    Spend,
    UtmDay,
    UtmMonth,
)

Dimension = Literal[
    "link", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "tag",
    "day", "week", "month", "referrer", "device", "browser", "os", "country",
]  # fmt: skip

LINK_COLUMNS: dict[str, Any] = {
    "link": Link.slug,
    "utm_source": Link.utm_source,
    "utm_medium": Link.utm_medium,
    "utm_campaign": Link.utm_campaign,
    "utm_content": Link.utm_content,
    "utm_term": Link.utm_term,
}
CLICK_COLUMNS: dict[str, Any] = {
    "referrer": Click.referrer_host,
    "device": Click.device_type,
    "browser": Click.browser,
    "os": Click.os,
    "country": Click.country,
}
TIME_DIMENSIONS = ("day", "week", "month")
_BY_UTM = (None, "utm_source", "utm_medium", "utm_campaign", *TIME_DIMENSIONS)
Expr = ColumnElement[Any] | InstrumentedAttribute[Any]
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a report covers: the instants [start, end), how rows are cut, which links."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    group_by: Dimension | None
    dialect: Dialect
    include_test_orders: bool = False
    rollup_zone: str = "UTC"
    open_end: bool = False  # `to` was not given: the range runs to now
    raw_clicks_from: datetime | None = None  # retention's horizon, if raw clicks are let go
    # False: without the two figures that cost most to read and that the dashboard does not
    # show: the median time to order (its gaps were half of a 90-day overview's orders
    # passes) and unique visitors (distinct hashes of raw clicks, two thirds of a link's
    # referrers, devices and countries). They read as None and 0.
    details: bool = True
    # The first rows only, in the report's order, and the row of no key wherever it ranks
    # (the orders no link claims): the overview's ten top links, not 2,000 rows to show ten.
    limit: int | None = None
    link: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    tag: str | None = None
    # Rows keyed by these click columns together (a tuple per row), for reports by several
    # of them to be filed from one pass: group_by names the first, so the clicks are read raw.
    click_key: tuple[str, ...] = ()

    @property
    def whole(self) -> Scope:
        """The same period and filters, ungrouped: what reports asked together share."""
        return replace(self, group_by=None, limit=None)

    @property
    def filters_links(self) -> bool:
        return any((self.link, self.utm_source, self.utm_medium, self.utm_campaign, self.tag))

    @property
    def utm_filters(self) -> dict[str, str]:
        """The source, medium and campaign asked for, by field: the links' columns and the
        UTM rollup's alike."""
        return {field: value for field in UTM_FIELDS if (value := getattr(self, field)) is not None}

    @property
    def past_retention(self) -> bool:
        """Whether the report needs raw clicks older than retention keeps: those grouped by
        a click's own column, or cut in a time zone the daily rollup was not cut in."""
        reads_raw = self.group_by in CLICK_COLUMNS or self.zone.key != self.rollup_zone
        return reads_raw and self.raw_clicks_from is not None and self.start < self.raw_clicks_from

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(self.zone).date()


@dataclass
class Totals:
    """One row's raw aggregates, money in minor units per currency."""

    clicks: int = 0
    bot_clicks: int = 0
    unique_visitors: int = 0
    orders: int = 0
    orders_by_currency: dict[str, int] | None = None
    revenue: dict[str, int] | None = None
    refunds: dict[str, int] | None = None
    median_time_to_order_s: float | None = None
    impressions: int | None = None
    cost: dict[str, int] | None = None

    def add(self, more: Totals) -> None:
        """Add what adds up: counts and money. Not medians, nor spend, which is read for
        the whole (a campaign's spend is not its links')."""
        self.clicks += more.clicks
        self.bot_clicks += more.bot_clicks
        self.unique_visitors += more.unique_visitors
        self.orders += more.orders
        self.orders_by_currency = add_amounts(self.orders_by_currency, more.orders_by_currency)
        self.revenue = add_amounts(self.revenue, more.revenue)
        self.refunds = add_amounts(self.refunds, more.refunds)


def add_amounts(into: dict[str, int] | None, more: dict[str, int] | None) -> dict[str, int] | None:
    """Amounts per currency added up; None where neither side has any.

    ``into`` is added to in place (a copy of ``more`` where it is None): it must belong to
    the sum being made, as the rows a report adds up into a total or a key do. A new dict
    each time cost a 90-day overview 100,000 of them.
    """
    if more is None:
        return into
    if into is None:
        return dict(more)
    for currency, amount in more.items():
        into[currency] = into.get(currency, 0) + amount
    return into


def _link_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    conditions = [LINK_COLUMNS[field] == value for field, value in scope.utm_filters.items()]
    if scope.link is not None:
        conditions.append(Link.slug == scope.link)
    if scope.tag is not None:
        # Its own alias: rows by tag join `link_tags` too, which would take this one's place.
        tagged = aliased(LinkTag)
        conditions.append(exists().where(tagged.link_id == Link.id, tagged.tag == scope.tag))
    return conditions


def _chosen_links(scope: Scope, link_id: Expr) -> list[ColumnElement[bool]]:
    """Only the filtered links' rows, taken before anything is summed: a link reads its own days."""
    if not scope.filters_links:
        return []
    return [link_id.in_(select(Link.id).where(*_link_conditions(scope)))]


def _key(scope: Scope, timestamp: Expr) -> Expr:
    dimension = scope.group_by
    if scope.click_key:
        columns = _click_columns(scope)
        # One value to read back, a row on PostgreSQL, a JSON array on SQLite (the rows are
        # grouped by the columns themselves: `_grouping`).
        return func.row(*columns) if scope.dialect == "postgresql" else func.json_array(*columns)
    if dimension is None:
        return literal(None)
    if dimension in LINK_COLUMNS:
        return LINK_COLUMNS[dimension]  # type: ignore[no-any-return]
    if dimension == "tag":
        return LinkTag.tag
    if dimension in CLICK_COLUMNS:
        return CLICK_COLUMNS[dimension]  # type: ignore[no-any-return]
    kind = timebuckets.BUCKETS[dimension]
    return timebuckets.bucket(timestamp, kind, scope.zone, scope.start, scope.end, scope.dialect)


def _click_columns(scope: Scope) -> list[Expr]:
    return [CLICK_COLUMNS[name] for name in scope.click_key]


def _grouping(scope: Scope, key: Expr) -> list[Expr]:
    """What rows are grouped by: the key; or the click columns a key of several is made of,
    since PostgreSQL sorts records to group by them (a link's 100,000 clicks: 180 -> 41 ms)."""
    return _click_columns(scope) if scope.click_key else [key]


async def _rows(session: AsyncSession, query: AnySelect) -> Sequence[Any]:
    """Rows of sums read through Core, all at once: the ORM's row loading, which these plain
    tuples do not need, was a tenth of a 90-day overview's time in Python."""
    connection = await session.connection()
    return (await connection.execute(query)).all()


def _named(scope: Scope, key: Any) -> Any:
    """A row's key as reports name it: PostgreSQL's time buckets come back as dates, and a
    key of several click columns as a row or a JSON array (a tuple here)."""
    if scope.click_key:
        return tuple(json.loads(key) if isinstance(key, str) else key)
    if isinstance(key, date) and scope.group_by in TIME_DIMENSIONS:
        return timebuckets.as_key(key, timebuckets.BUCKETS[scope.group_by])
    return key


_COUNTS = (ClickDay.clicks, ClickDay.bot_clicks, ClickDay.unique_visitors)


def _full_days(scope: Scope) -> tuple[date, date, datetime, datetime] | None:
    """The whole days of the rollup's zone inside the range: (first, last, their UTC span)."""
    if scope.zone.key != scope.rollup_zone:
        return None
    zone = scope.zone
    first = scope.start.astimezone(zone).date()
    if datetime.combine(first, time(), zone) < scope.start:
        first += timedelta(days=1)
    after = scope.end.astimezone(zone).date()  # the day holding `end`, itself not whole...
    if scope.open_end or scope.end >= utcnow():
        after += timedelta(days=1)  # ...unless it runs to now: no click of today is later than that
    end_of_rollup = datetime.combine(after, time(), zone).astimezone(UTC)
    if first >= after:
        return None
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    return first, after - timedelta(days=1), start, min(end_of_rollup, scope.end)


async def clicks(session: AsyncSession, scope: Scope) -> dict[Any, Totals]:
    """Whole days from the daily rollup, the partial days at the edges from the raw clicks."""
    days = _full_days(scope) if scope.group_by not in CLICK_COLUMNS else None
    if days is None:
        return await _raw_clicks(session, scope)
    first, last, start, end = days
    found = await _rolled_up_clicks(session, scope, first, last)
    for edge_start, edge_end in ((scope.start, start), (end, scope.end)):
        if edge_start < edge_end:
            edge = await _raw_clicks(session, replace(scope, start=edge_start, end=edge_end))
            for key, totals in edge.items():
                found.setdefault(key, Totals()).add(totals)
    return found


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True, slots=True)
class _Reading:
    """Which rollup rows add up to a range of days: months [start, end) read whole, day
    spans added, and day spans subtracted (the days of a month read whole that the range
    leaves out)."""

    months: tuple[date, date] | None
    added: list[tuple[date, date]]
    subtracted: list[tuple[date, date]]


def _reading(first: date, last: date, today: date) -> _Reading:
    """The fewest rollup rows for the days [first, last].

    Every month between the first and the last is read whole. A month at an
    edge is read whole less the days outside the range where those are fewer
    than the days inside it: a year from the 16th reads twelve months and
    subtracts fifteen days instead of adding sixteen. Days after ``today``
    hold no clicks, so they cost nothing to subtract: a range running to today
    reads this month whole. (They are still read: another host's clock may
    already be past midnight.)
    """

    def cost(span: tuple[date, date]) -> int:
        return max(0, (min(span[1], today) - span[0]).days + 1)

    added: list[tuple[date, date]] = []
    subtracted: list[tuple[date, date]] = []
    first_month, last_month = first.replace(day=1), last.replace(day=1)
    start, end = first_month, _next_month(last_month)
    for month in sorted({first_month, last_month}):
        month_end = _next_month(month) - timedelta(days=1)
        inside = (max(first, month), min(last, month_end))
        outside = [
            span
            for span in (
                (month, inside[0] - timedelta(days=1)),
                (inside[1] + timedelta(days=1), month_end),
            )
            if span[0] <= span[1]
        ]
        if sum(map(cost, outside)) < cost(inside):
            subtracted += outside
        else:
            added.append(inside)
            start = _next_month(month) if month == first_month else start
            end = month if month == last_month else end
    return _Reading((start, end) if start < end else None, added, subtracted)


def _by_utm(scope: Scope) -> bool:
    """Whether the clicks add up from the rollup by source, medium and campaign: no key and
    no filter finer than those (links/utm_rollup.py)."""
    return scope.group_by in _BY_UTM and scope.link is None and scope.tag is None


def _rollup(scope: Scope, first: date, last: date, *, by_utm: bool) -> Subquery:
    """(keys, day, counts) rows that add up to the days [first, last].

    Keyed by link, or by source, medium and campaign where those say enough
    (`_by_utm`: a year by campaign, 20,000 links in 200 triples, reads 2,600
    rows instead of 256,000, and 200 instead of 13,500 for an edge day). Whole
    months come from the monthly table, as one row dated the month's first
    day, unless rows are days or weeks (a month is not cut in those); other
    days from the daily one (`_reading`).
    """
    if scope.group_by in ("day", "week"):
        reading = _Reading(None, [(first, last)], [])
    else:
        reading = _reading(first, last, utcnow().astimezone(scope.zone).date())

    def rows(table: Any, period: Any, sign: int, *where: ColumnElement[bool]) -> AnySelect:
        if by_utm:
            keys = [getattr(table, field) for field in UTM_FIELDS]
            chosen = [getattr(table, field) == value for field, value in scope.utm_filters.items()]
        else:
            keys, chosen = [table.link_id], _chosen_links(scope, table.link_id)
        counts = [getattr(table, column.key) for column in _COUNTS]
        return select(
            *keys,
            period.label("day"),
            *(count if sign > 0 else (-count).label(count.key) for count in counts),
        ).where(*where, *chosen)

    day_table, month_table = (UtmDay, UtmMonth) if by_utm else (ClickDay, ClickMonth)
    parts = [
        rows(day_table, day_table.day, sign, day_table.day >= since, day_table.day <= until)
        for sign, spans in ((1, reading.added), (-1, reading.subtracted))
        for since, until in spans
    ]
    if reading.months is not None:
        month = month_table.month
        parts.append(
            rows(month_table, month, 1, month >= reading.months[0], month < reading.months[1])
        )
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()


async def _rolled_up_clicks(
    session: AsyncSession, scope: Scope, first: date, last: date
) -> dict[Any, Totals]:
    by_utm = _by_utm(scope)
    days = _rollup(scope, first, last, by_utm=by_utm)
    if scope.group_by in TIME_DIMENSIONS:
        kind = timebuckets.BUCKETS[scope.group_by]
        key: Expr = timebuckets.date_bucket(days.c.day, kind, scope.dialect)
    elif by_utm:
        key = func.nullif(days.c[scope.group_by], NONE) if scope.group_by else literal(None)
    else:
        if scope.dialect == "sqlite":
            # SQLite sorts to join and group: summing each link's rows first, the join meets
            # one row per link, not per day (a year by campaign: 79 ms against 96 ms).
            # PostgreSQL hash-joins every row for less than a per-link sum costs (44 vs 78).
            days = (
                select(
                    days.c.link_id,
                    *(func.sum(days.c[column.key]).label(column.key) for column in _COUNTS),
                )
                .group_by(days.c.link_id)
                .subquery()
            )
        key = _key(scope, days.c.link_id)
    key = key.label("key")
    query = select(key, *(func.sum(days.c[column.key]) for column in _COUNTS))
    return await _click_rows(session, scope, query, key, None if by_utm else days.c.link_id)


async def _raw_clicks(session: AsyncSession, scope: Scope) -> dict[Any, Totals]:
    human = Click.is_bot.is_(False)
    # A visitor is counted once per link and day, as the rollup counts them (hashes change daily).
    visitor = cast(Click.link_id, String) + literal(":") + Click.visitor_hash
    key = _key(scope, Click.clicked_at).label("key")
    query = (
        select(
            key,
            func.sum(case((human, 1), else_=0)),
            func.sum(case((human, 0), else_=1)),
            func.count(distinct(case((human, visitor)))) if scope.details else literal(0),
        )
        .select_from(Click)
        .where(Click.clicked_at >= scope.start, Click.clicked_at < scope.end)
        # The filter's links first, as the rollup's rows are: SQLite then reads each link's
        # clicks through `ix_clicks_link_report`, not every click in range joined to its link
        # (a tag's 30 days by country, year bench: 10.6-11.7 s -> 0.26 s; PostgreSQL alike).
        .where(*_chosen_links(scope, Click.link_id))
    )
    return await _click_rows(session, scope, query, key, Click.link_id)


async def _click_rows(
    session: AsyncSession,
    scope: Scope,
    query: AnySelect,
    key: Expr,
    link_id: Expr | None,
) -> dict[Any, Totals]:
    """Join what the key and the filters need of the rows' links (none where they carry it
    themselves), group, and read (clicks, bots, visitors) rows."""
    if link_id is not None:
        query = _join_links(scope, query, link_id)
    if scope.group_by is not None:
        query = query.group_by(*_grouping(scope, key))
    found: dict[Any, Totals] = {}
    for row_key, humans, bots, uniques in await _rows(session, query):
        if humans or bots:
            uniques = uniques if scope.details else 0  # the rollup's are read, not shown
            found[_named(scope, row_key)] = Totals(int(humans), int(bots), int(uniques))
    return found


def _order_rows(scope: Scope, query: AnySelect) -> AnySelect:
    """The orders a report counts: placed in range, not cancelled, test orders only if asked."""
    query = query.where(
        Order.occurred_at >= scope.start,
        Order.occurred_at < scope.end,
        Order.status != "cancelled",
    )
    if not scope.include_test_orders:
        query = query.where(Order.is_test.is_(False))
    if scope.group_by in CLICK_COLUMNS:
        query = query.outerjoin(Click, Click.id == Order.attributed_click_id)
    return query


def _utm_kept(scope: Scope) -> bool:
    """Whether the key is a source, medium or campaign that the orders keep with them."""
    return scope.group_by in UTM_FIELDS and _by_utm(scope)


def _carried(scope: Scope) -> bool:
    """Whether an order carries the report's key itself: its day, its click's browser, or
    its link's source, medium or campaign, kept with it (`Order.utm_source`...)."""
    return scope.group_by in (*TIME_DIMENSIONS, *CLICK_COLUMNS) or _utm_kept(scope)


def _order_key(scope: Scope) -> Expr:
    """The report's key of an order: its own source, medium or campaign where it says enough."""
    if _utm_kept(scope):
        return getattr(Order, str(scope.group_by))  # type: ignore[no-any-return]
    return _key(scope, Order.occurred_at)


def _orders_join_links(scope: Scope) -> bool:
    """Whether the orders are joined to their links: for a key or filter of the link that the
    order does not keep (its slug, content, term, tags). A year by campaign's 200,000 orders
    hash-joined to 20,000 links took a third of its pass (PostgreSQL, 144-230 -> 99-147 ms).
    A filter still picks its links' orders by link (`_chosen_links`): through
    `ix_orders_link_report`, a campaign's orders are read, not every order in range."""
    return not _by_utm(scope) and (scope.filters_links or scope.group_by in (*LINK_COLUMNS, "tag"))


def _per_link(scope: Scope, query: AnySelect, *group_by: Expr) -> Subquery:
    """The counted orders summed per link first: the join to links then meets a row per link.

    A key the order carries itself (`_carried`) is kept here as ``key``; a key
    of the link is looked up by `_by_key`.
    """
    own_key = _carried(scope)
    key = _order_key(scope).label("key")
    query = _order_rows(scope, query.add_columns(Order.link_id, *([key] if own_key else [])))
    query = query.where(*_chosen_links(scope, Order.link_id))
    own = _grouping(scope, key) if own_key else []
    return query.group_by(Order.link_id, *group_by, *own).subquery()


def _join_links(scope: Scope, query: AnySelect, link_id: Expr) -> AnySelect:
    """Join what the key and the filters need of the links (an order without one: a null key)."""
    if scope.filters_links:
        query = query.join(Link, Link.id == link_id).where(*_link_conditions(scope))
    elif scope.group_by in LINK_COLUMNS:
        query = query.outerjoin(Link, Link.id == link_id)
    if scope.group_by == "tag":
        query = query.outerjoin(LinkTag, LinkTag.link_id == link_id)
    return query


def _by_key(scope: Scope, per_link: Subquery, *columns: Expr) -> AnySelect:
    """Per-link sums regrouped by the report's key and currency."""
    key = (per_link.c.key if _carried(scope) else _key(scope, per_link.c.link_id)).label("key")
    query = select(key, per_link.c.currency, *columns).select_from(per_link)
    if _orders_join_links(scope):
        query = _join_links(scope, query, per_link.c.link_id)
    return query.group_by(*([key] if scope.group_by else []), per_link.c.currency)


def _orders_by_key(scope: Scope) -> AnySelect:
    """(key, currency, orders, revenue, click-to-order gaps) of the counted orders.

    Medians do not add up and SQLite has no percentile, so the gaps (whole
    milliseconds) come back and Python takes the medians. PostgreSQL hash-joins
    each order to its link where it must (`_orders_join_links`) and returns the
    gaps as an integer array, in binary:
    nothing to format or parse. SQLite returns them as text, its one aggregate
    of many values; it sorts to group, so where the links are joined it sums
    each link's orders first (a sort of one row per link for the join, not per
    order), and where they are not it groups the orders straight away (90
    days by day without gaps: 183 -> 61 ms in the sqlite3 shell).
    """
    gap = Order.ms_to_order
    joins_links = _orders_join_links(scope)
    if scope.dialect == "postgresql" or not joins_links:
        key = _order_key(scope).label("key")
        gaps: Expr = literal(None)
        if scope.details and scope.dialect == "postgresql":
            gaps = func.array_agg(gap).filter(gap.is_not(None))
        elif scope.details:
            gaps = func.group_concat(gap, ",")
        query = select(key, Order.currency, func.count(), func.sum(Order.amount_minor), gaps)
        query = _order_rows(scope, query.select_from(Order))
        query = query.where(*_chosen_links(scope, Order.link_id))
        if joins_links:
            query = _join_links(scope, query, Order.link_id)
        # The key first: SQLite's sorter then rarely compares currencies, mostly all alike
        # (90 days by day: 105 -> 70 ms in its shell).
        return query.group_by(*(_grouping(scope, key) if scope.group_by else []), Order.currency)
    counted = select(
        Order.currency,
        func.count().label("orders"),
        func.sum(Order.amount_minor).label("revenue"),
        (func.group_concat(gap, ",") if scope.details else literal(None)).label("gaps"),
    ).select_from(Order)
    per_link = _per_link(scope, counted, Order.currency)
    return _by_key(
        scope,
        per_link,
        func.sum(per_link.c.orders),
        func.sum(per_link.c.revenue),
        func.group_concat(per_link.c.gaps, ",") if scope.details else literal(None),
    )


def _nth(runs: list[list[int]], n: int) -> int:
    """The n-th smallest value (from 0) in sorted runs: a binary search over the values,
    counting with bisect in each run."""
    if len(runs) == 1:
        return runs[0][n]
    low, high = min(run[0] for run in runs), max(run[-1] for run in runs)
    while low < high:
        middle = (low + high) // 2
        if sum(bisect.bisect_right(run, middle) for run in runs) > n:
            high = middle
        else:
            low = middle + 1
    return low


def _merged(runs: list[list[int]]) -> list[list[int]]:
    """Sorted runs as `_median_seconds` searches them fastest.

    Few long runs are searched as they are (`_nth`, about 36 bisects in each):
    a year's 200,000 gaps in 200 campaigns cost 7,000 bisects instead of a sort
    of all of them (20 ms). Many short runs (a row per link), and a few thousand
    gaps in all, are merged into one: two runs of 500 merge in 10 µs, and are
    searched in 25.
    """
    if len(runs) > 1 and sum(map(len, runs)) <= max(4096, 64 * len(runs)):
        return [sorted(chain.from_iterable(runs))]  # Timsort merges the sorted runs
    return runs


def _median_seconds(runs: list[list[int]]) -> float:
    """The median of sorted runs of gaps, in seconds.

    Exact: gaps are whole milliseconds, so a median is a whole or a half one
    (1.2345 s).
    """
    runs = _merged(runs)
    size = sum(map(len, runs))
    half = size // 2
    middle = _nth(runs, half) if size % 2 else (_nth(runs, half - 1) + _nth(runs, half)) / 2
    return middle / 1000


Gaps = dict[Any, list[list[int]]]  # each key's click-to-order gaps, in sorted runs


async def orders(session: AsyncSession, scope: Scope) -> tuple[dict[Any, Totals], Gaps]:
    """Orders and revenue (rule 1) by key, and each key's gaps for its median time to order.

    One pass over the orders in range.
    """
    query = _orders_by_key(scope)
    found: dict[Any, Totals] = defaultdict(lambda: Totals(orders_by_currency={}, revenue={}))
    gaps: dict[Any, list[int]] = defaultdict(list)
    for bucket, currency, count, amount, key_gaps in await _rows(session, query):
        row_key = _named(scope, bucket)
        totals = found[row_key]
        totals.orders += int(count)
        assert totals.orders_by_currency is not None and totals.revenue is not None
        totals.orders_by_currency[currency] = int(count)
        totals.revenue[currency] = int(amount)
        if key_gaps:  # a list from PostgreSQL, "1500,20250" from SQLite
            if isinstance(key_gaps, str):
                # Read as a JSON array: its C parser makes the ints in half the time of
                # int() on each of split()'s strings (a year's 200,000 gaps: 40 -> 20 ms).
                key_gaps = json.loads(f"[{key_gaps}]")
            gaps[row_key].extend(key_gaps)
    for key_gaps in gaps.values():
        key_gaps.sort()  # in place: a year's 200,000 gaps copied as well cost 3-4 ms more
    return dict(found), {row_key: [key_gaps] for row_key, key_gaps in gaps.items()}


def medians(gaps: Gaps) -> tuple[dict[Any, float], float | None]:
    """Each key's median time to order, and the median over all the keys (searched in the
    keys' runs as merged for their own medians: fewer runs to search)."""
    merged = {row_key: _merged(runs) for row_key, runs in gaps.items()}
    every = [run for runs in merged.values() for run in runs]
    by_key = {row_key: _median_seconds(runs) for row_key, runs in merged.items()}
    return by_key, _median_seconds(every) if every else None


async def link_keys(session: AsyncSession, scope: Scope) -> dict[str, dict[str, Any]]:
    """Each link's slug, and what a report by source, medium, campaign, content or term
    files it under."""
    columns = {name: column for name, column in LINK_COLUMNS.items() if name != "link"}
    query = select(Link.slug, *columns.values()).where(*_link_conditions(scope))
    return {
        slug: dict(zip(columns, values, strict=True))
        for slug, *values in await _rows(session, query)
    }


async def refunds(session: AsyncSession, scope: Scope) -> dict[Any, dict[str, int]]:
    """What was refunded on the counted orders, by the order's key and the refund's currency.

    Only flagged orders are read (`ix_orders_refunded`), not every order in range.
    """
    refunded = (
        select(Refund.currency, func.sum(Refund.amount_minor).label("refunds"))
        .select_from(Order)
        .join(Refund, REFUND_OF_ORDER)
        .where(text(HAS_REFUNDS))
    )
    per_link = _per_link(scope, refunded, Refund.currency)
    found: dict[Any, dict[str, int]] = defaultdict(dict)
    for row_key, currency, amount in await _rows(
        session, _by_key(scope, per_link, func.sum(per_link.c.refunds))
    ):
        found[_named(scope, row_key)][currency] = int(amount)
    return dict(found)


async def spend(session: AsyncSession, scope: Scope) -> dict[Any, Totals]:
    """Cost and impressions; campaign-wide spend only where rows are campaigns, days or totals."""
    dimension = scope.group_by
    if dimension in CLICK_COLUMNS:
        return {}
    link_filters = _link_conditions(scope)
    campaign_only = scope.utm_campaign is not None and not any(
        (scope.link, scope.utm_source, scope.utm_medium, scope.tag)
    )
    # Which spend rows can count: a link's only, unless rows are campaigns, days or totals
    # and the links are not narrowed beyond a campaign.
    kept: list[ColumnElement[bool]] = [Spend.day >= scope.first_day, Spend.day <= scope.last_day]
    if campaign_only:
        kept.append(or_(Spend.utm_campaign == scope.utm_campaign, Spend.link_id.is_not(None)))
    split_by_link = dimension in (*LINK_COLUMNS, "tag") and dimension != "utm_campaign"
    if split_by_link or (link_filters and not campaign_only):
        kept.append(Spend.link_id.is_not(None))
    # Summed per link or campaign first: a year of daily campaign spend (73,000 rows) then
    # meets the links as 200 rows, not 73,000 (77 -> 26 ms).
    own: list[Expr] = [Spend.link_id, Spend.utm_campaign, Spend.currency]
    if dimension in TIME_DIMENSIONS:
        kind = timebuckets.BUCKETS[dimension]
        own.append(timebuckets.date_bucket(Spend.day, kind, scope.dialect).label("bucket"))
    spent = (
        select(
            *own,
            func.sum(Spend.amount_minor).label("amount"),
            func.sum(Spend.impressions).label("impressions"),
        )
        .where(*kept)
        .group_by(*own)
        .subquery()
    )
    if dimension in TIME_DIMENSIONS:
        key: Expr = spent.c.bucket
    elif dimension == "utm_campaign":
        key = func.coalesce(Link.utm_campaign, spent.c.utm_campaign)
    elif dimension == "tag":
        key = LinkTag.tag
    elif dimension is not None:
        key = LINK_COLUMNS[dimension]
    else:
        key = literal(None)
    key = key.label("key")
    query = (
        select(key, spent.c.currency, func.sum(spent.c.amount), func.sum(spent.c.impressions))
        .select_from(spent)
        .outerjoin(Link, Link.id == spent.c.link_id)
    )
    if campaign_only:
        query = query.where(
            or_(
                Link.utm_campaign == scope.utm_campaign,
                spent.c.utm_campaign == scope.utm_campaign,
            )
        )
    elif link_filters:
        query = query.where(*link_filters)
    if dimension == "tag":
        query = query.join(LinkTag, LinkTag.link_id == spent.c.link_id)
    query = query.group_by(spent.c.currency, *([key] if dimension else []))
    found: dict[Any, Totals] = defaultdict(lambda: Totals(cost={}))
    for row_key, currency, amount, impressions in await _rows(session, query):
        totals = found[_named(scope, row_key)]
        assert totals.cost is not None
        totals.cost[currency] = int(amount)
        if impressions is not None:
            totals.impressions = (totals.impressions or 0) + int(impressions)
    return dict(found)
