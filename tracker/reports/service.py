"""The metrics of SPEC §8, computed from the grouped aggregates of `queries.py`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker import clock, money, timebuckets
from tracker.clicks import retention
from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db.engine import Dialect
from tracker.errors import Unprocessable
from tracker.reports import queries
from tracker.reports.queries import Dimension, Scope, Totals
from tracker.reports.schemas import DayPoint, LinkReport, Metrics, Money, Report, Row

T = TypeVar("T")
Readers = async_sessionmaker[AsyncSession]  # read-only sessions, a connection each
DEFAULT_DAYS = 30
MAX_RANGE = timedelta(days=5 * 366)


def zone(name: str) -> ZoneInfo:
    try:
        return clock.zone(name)
    except ValueError as exc:
        raise Unprocessable(f"tz: {exc}") from exc


def _instant(name: str, value: str, tz: ZoneInfo, *, end: bool) -> datetime:
    """A date is the whole day in ``tz`` (an end date includes it); a naive time is in ``tz``."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
        else:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
    except ValueError as exc:
        raise Unprocessable(f"{name}: {value!r} is not a date (2026-11-20) or datetime") from exc
    return moment


def period(start: str | None, end: str | None, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC; by default the last 30 days: today and the 29 whole days before it."""
    until = _instant("to", end, tz, end=True) if end else utcnow()
    if start:
        since = _instant("from", start, tz, end=False)
    else:
        first_day = until.astimezone(tz).date() - timedelta(days=DEFAULT_DAYS - 1)
        since = datetime.combine(first_day, time(), tz)
    if since > until:
        raise Unprocessable("from: must not be after to")
    if until - since > MAX_RANGE:
        raise Unprocessable("from: the range may span at most 5 years")
    return since, until


def _money(minor: dict[str, int]) -> Money:
    return {
        currency: money.minor_text(amount, currency) for currency, amount in sorted(minor.items())
    }


def _ratio(numerator: float, denominator: float | None) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _money_ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 6)


def _net(totals: Totals) -> dict[str, int]:
    """Net revenue per currency, in minor units: revenue less refunds."""
    revenue, refunds = totals.revenue or {}, totals.refunds or {}
    return {c: revenue.get(c, 0) - refunds.get(c, 0) for c in sorted({*revenue, *refunds})}


def _fields(totals: Totals) -> dict[str, Any]:
    """Every metric of SPEC §8 from one row's raw aggregates."""
    revenue = totals.revenue or {}
    refunds = totals.refunds or {}
    cost = totals.cost or {}
    net = _net(totals)
    per_currency_orders = totals.orders_by_currency or {}
    return {
        "clicks": totals.clicks,
        "bot_clicks": totals.bot_clicks,
        "unique_visitors": totals.unique_visitors,
        "orders": totals.orders,
        "conversion_rate": _ratio(totals.orders, totals.clicks),
        "revenue": _money(revenue),
        "refunds": _money(refunds),
        "net_revenue": _money(net),
        "average_order_value": {
            c: money.minor_text(amount, c, by=per_currency_orders[c])
            for c, amount in sorted(revenue.items())
            if per_currency_orders.get(c)
        },
        "revenue_per_click": {
            c: money.minor_text(amount, c, by=totals.clicks, extra_places=2)
            for c, amount in net.items()
        }
        if totals.clicks
        else {},
        "median_time_to_order_s": totals.median_time_to_order_s,
        "impressions": totals.impressions,
        "cost": _money(cost),
        "ctr": _ratio(totals.clicks, totals.impressions),
        "roas": {c: _money_ratio(net[c], cost[c]) for c in sorted(cost) if c in net and cost[c]},
        "roi": {
            c: _money_ratio(net[c] - cost[c], cost[c]) for c in sorted(cost) if c in net and cost[c]
        },
    }


def empty_row(key: str | None) -> Row:
    """A row where nothing happened: a day without clicks or orders, say."""
    return Row(key=key, **_fields(Totals()))


async def _read(
    readers: Readers, family: Callable[[AsyncSession, Scope], Awaitable[T]], scope: Scope
) -> T:
    async with readers() as session:
        return await family(session, scope)


@dataclass
class _Families:
    """What a report reads by key before spend: clicks, orders with their gaps, refunds."""

    clicks: dict[Any, Totals]
    orders: dict[Any, Totals]
    gaps: queries.Gaps
    refunds: dict[Any, dict[str, int]]


async def _families(readers: Readers, scope: Scope) -> _Families:
    """Each family on a connection of its own, all at once: PostgreSQL runs them on as many
    backends, SQLite's readers side by side in WAL mode (its driver releases the
    interpreter while a statement runs)."""
    (orders, gaps), clicks, refunds = await asyncio.gather(
        _orders(readers, scope),
        _read(readers, queries.clicks, scope),
        _read(readers, queries.refunds, scope),
    )
    return _Families(clicks, orders, gaps, refunds)


# PostgreSQL reads all links' orders of a period this long in two halves at once.
_HALVED = timedelta(days=180)


async def _orders(readers: Readers, scope: Scope) -> tuple[dict[Any, Totals], queries.Gaps]:
    """The orders' pass, the longest of a long report's. On PostgreSQL the orders of all
    links over a long period are read in two halves at once, each on a connection of its
    own: the halves share the cores with the other families better than one pass does,
    and Python sorts one half's gaps while the other is still read (a year by campaign,
    year bench: 153-176 -> 136-149 ms, alternated six times). A filter's few orders gain
    nothing from a second statement."""
    if scope.dialect != "postgresql" or scope.filters_links or scope.end - scope.start < _HALVED:
        return await _read(readers, queries.orders, scope)
    middle = scope.start + (scope.end - scope.start) / 2
    halves = (replace(scope, end=middle), replace(scope, start=middle))
    found: dict[Any, Totals] = {}
    gaps: queries.Gaps = {}
    for orders, runs in await asyncio.gather(*(_read(readers, queries.orders, h) for h in halves)):
        for key, totals in orders.items():
            found.setdefault(key, Totals()).add(totals)
        for key, key_runs in runs.items():
            gaps.setdefault(key, []).extend(key_runs)
    return found, gaps


def _regrouped(by_link: _Families, key_of: Callable[[Any], Any]) -> _Families:
    """Per-link families filed under another key of the link: sums add up, and the gaps'
    sorted runs are kept apart for the median to search."""
    found = _Families({}, {}, {}, {})
    for slug, totals in by_link.clicks.items():
        found.clicks.setdefault(key_of(slug), Totals()).add(totals)
    for slug, totals in by_link.orders.items():
        found.orders.setdefault(key_of(slug), Totals()).add(totals)
    for slug, runs in by_link.gaps.items():
        found.gaps.setdefault(key_of(slug), []).extend(runs)
    for slug, amounts in by_link.refunds.items():
        key = key_of(slug)
        found.refunds[key] = queries.add_amounts(found.refunds.get(key), amounts) or {}
    return found


async def _aggregate(shared: _Shared, scope: Scope) -> tuple[dict[Any, Totals], float | None]:
    """Every metric family, by key; and the median time to order over all the keys."""
    families, spend = await asyncio.gather(
        shared.families(scope), _read(shared.readers, queries.spend, scope)
    )
    medians, overall_median = queries.medians(families.gaps)
    clicks, orders, refunds = families.clicks, families.orders, families.refunds
    nothing = Totals()
    combined: dict[Any, Totals] = {}
    for key in {*clicks, *orders, *refunds, *spend}:
        click, order, spent = clicks.get(key, nothing), orders.get(key, nothing), spend.get(key)
        combined[key] = Totals(
            clicks=click.clicks,
            bot_clicks=click.bot_clicks,
            unique_visitors=click.unique_visitors,
            orders=order.orders,
            orders_by_currency=order.orders_by_currency,
            revenue=order.revenue,
            refunds=refunds.get(key),
            median_time_to_order_s=medians.get(key),
            impressions=spent.impressions if spent else None,
            cost=spent.cost if spent else None,
        )
    return combined, overall_median


# Every click and order falls in exactly one row of these: the rows add up to the totals.
_PARTITIONS = (*queries.LINK_COLUMNS, *queries.TIME_DIMENSIONS)
# Every spend row too falls in exactly one row of these (a campaign's own spend in its
# campaign's, each day's in its bucket): the whole period's spend is their sum, not a read.
_SPEND_PARTITIONS = ("utm_campaign", *queries.TIME_DIMENSIONS)


def _spend_summed(rows: Iterable[Totals]) -> Totals:
    """The cost and impressions of rows that partition the spend, added up."""
    total = Totals()
    for row in rows:
        total.cost = queries.add_amounts(total.cost, row.cost)
        if row.impressions is not None:
            total.impressions = (total.impressions or 0) + row.impressions
    return total


def _summed(grouped: dict[Any, Totals], median: float | None, spent: Totals | None) -> Totals:
    """The totals row from rows that partition the data, with the whole period's spend.

    Spend is queried for the whole: campaign-wide spend is in the totals but
    not in every row. Medians do not add up: the rows' query brought the
    overall one.
    """
    total = Totals()
    for row in grouped.values():
        total.add(row)
    total.median_time_to_order_s = median
    if spent is not None:
        total.cost, total.impressions = spent.cost, spent.impressions
    return total


class _Shared:
    """What several reports asked at once have in common, read once per distinct period and
    filters: the whole period's aggregate and spend (a link page's five reports need one,
    not four), and, for two or more reports by keys of a link (link, source, campaign...),
    the clicks, orders and refunds by link, filed under each report's key in Python (the
    overview's reports by link, campaign and channel make one pass over the orders).

    Likewise two or more reports by a click's own columns (a link page's referrers,
    devices and countries) read the raw clicks, and the orders joined to them, once by all
    those columns together, where no unique visitors are counted (they do not add up):
    two statements over a link's 100,000 clicks instead of six.
    """

    def __init__(self, readers: Readers, scopes: Sequence[Scope] = ()) -> None:
        self.readers = readers
        self._reads: dict[tuple[str, Scope], asyncio.Future[Any]] = {}
        by_link = [s.whole for s in scopes if s.group_by in queries.LINK_COLUMNS]
        self._by_link = {whole for whole in by_link if by_link.count(whole) > 1}
        by_clicks: dict[Scope, set[Dimension]] = {}
        for s in scopes:
            if s.group_by is not None and s.group_by in queries.CLICK_COLUMNS and not s.details:
                by_clicks.setdefault(s.whole, set()).add(s.group_by)
        self._by_clicks = {w: tuple(sorted(d)) for w, d in by_clicks.items() if len(d) > 1}

    def _once(self, name: str, scope: Scope, read: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        key = (name, scope.whole)
        if key not in self._reads:
            self._reads[key] = asyncio.ensure_future(read())
        return self._reads[key]

    def whole(self, scope: Scope) -> Awaitable[tuple[dict[Any, Totals], float | None]]:
        return self._once("aggregate", scope, lambda: _aggregate(self, scope.whole))

    def spent(self, scope: Scope) -> Awaitable[dict[Any, Totals]]:
        return self._once("spend", scope, lambda: _read(self.readers, queries.spend, scope.whole))

    async def families(self, scope: Scope) -> _Families:
        whole = scope.whole
        if scope.group_by in queries.CLICK_COLUMNS and whole in self._by_clicks:
            columns = self._by_clicks[whole]
            together = replace(scope, group_by=columns[0], click_key=columns)
            by_clicks = await self._once(
                "by clicks", scope, lambda: _families(self.readers, together)
            )
            place = columns.index(scope.group_by)
            return _regrouped(by_clicks, lambda values: values[place])
        if scope.group_by not in queries.LINK_COLUMNS or whole not in self._by_link:
            return await _families(self.readers, scope)
        by_link: _Families
        by_link, keys = await asyncio.gather(
            self._once(
                "by link", scope, lambda: _families(self.readers, replace(scope, group_by="link"))
            ),
            self._once("link keys", scope, lambda: _read(self.readers, queries.link_keys, whole)),
        )
        dimension = scope.group_by
        if dimension == "link":
            return by_link  # only read: each report builds rows of its own
        return _regrouped(by_link, lambda slug: keys[slug][dimension] if slug else None)


async def _rows_and_totals(shared: _Shared, scope: Scope) -> tuple[dict[Any, Totals], Totals]:
    """The rows by key, and the totals: summed from the rows where they partition the data
    (every click and order in exactly one row), else queried, at the same time as the rows."""
    if scope.group_by in _SPEND_PARTITIONS:
        grouped, median = await _aggregate(shared, scope)
        return grouped, _summed(grouped, median, _spend_summed(grouped.values()))
    if scope.group_by in _PARTITIONS:
        (grouped, median), spent = await asyncio.gather(
            _aggregate(shared, scope), shared.spent(scope)
        )
        return grouped, _summed(grouped, median, spent.get(None))
    if scope.group_by is None:
        return {}, (await shared.whole(scope))[0].get(None, Totals())
    (grouped, _median), (every, _overall) = await asyncio.gather(
        _aggregate(shared, scope), shared.whole(scope)
    )
    return grouped, every.get(None, Totals())


async def reports(readers: Readers, scopes: Sequence[Scope]) -> list[Report]:
    """Several reports at the same time (each family on a connection of its own), reading
    what they have in common once: a page that needs four waits for the slowest."""
    shared = _Shared(readers, scopes)
    return list(await asyncio.gather(*(_report(shared, scope) for scope in scopes)))


async def report(readers: Readers, scope: Scope) -> Report:
    """Rows and totals. Time rows run in time order; the others by net revenue, then clicks.

    Amounts in different currencies are never added up, so rows are ranked by
    the net revenue in the report's main currency (the one most orders were
    paid in), then by clicks.
    """
    return await _report(_Shared(readers), scope)


async def _report(shared: _Shared, scope: Scope) -> Report:
    grouped, total = await _rows_and_totals(shared, scope)
    return _assembled(scope, grouped, total)


def _assembled(scope: Scope, grouped: dict[Any, Totals], total: Totals) -> Report:
    by_currency = total.orders_by_currency or {}
    main = max(sorted(by_currency), key=lambda c: by_currency[c]) if by_currency else ""

    def rank(item: tuple[Any, Totals]) -> tuple[Any, ...]:
        key, totals = item
        if scope.group_by in queries.TIME_DIMENSIONS:
            return (key is None, key or "")
        net = (totals.revenue or {}).get(main, 0) - (totals.refunds or {}).get(main, 0)
        return (-net, -totals.clicks, key is None, str(key))

    ranked = sorted(grouped.items(), key=rank)  # ranked before rows are made: see Scope.limit
    if scope.limit is not None:
        ranked = ranked[: scope.limit] + [item for item in ranked[scope.limit :] if item[0] is None]
    rows = [Row(key=key, **_fields(totals)) for key, totals in ranked]
    return Report(
        start=scope.start,
        end=scope.end,
        tz=scope.zone.key,
        group_by=scope.group_by,
        rows=rows,
        totals=Metrics(**_fields(total)),
        raw_clicks_from=scope.raw_clicks_from if scope.past_retention else None,
    )


async def link_report(readers: Readers, scope: Scope) -> LinkReport:
    """One link: its totals and a zero-filled daily series of clicks, orders and net revenue."""
    if scope.link is None:
        raise ValueError("a link report needs a link")
    # Read once, by day: the days partition the link's clicks, orders and spend, so its
    # totals are the days' sums (`_rows_and_totals`), not a second read of every family
    # (one link over a year: four statements instead of eight).
    by_day, total = await _rows_and_totals(_Shared(readers), replace(scope, group_by="day"))
    summary = _assembled(replace(scope, group_by=None), {}, total)
    series = []
    nothing = Totals()
    for day in timebuckets.local_days(scope.zone, scope.start, scope.end):
        totals = by_day.get(day.isoformat(), nothing)
        net_revenue = _money(_net(totals))  # only what a point shows: a year is 365 of them
        series.append(
            DayPoint(date=day, clicks=totals.clicks, orders=totals.orders, net_revenue=net_revenue)
        )
    return LinkReport(**dict(summary), link=scope.link, series=series)


def scope_for(
    settings: Settings,
    *,
    dialect: Dialect,
    start: str | None,
    end: str | None,
    tz: str,
    group_by: Dimension | None,
    details: bool = True,
    limit: int | None = None,
    **filters: str | None,
) -> Scope:
    """What a report covers, from its parameters and the deployment's settings."""
    zone_info = zone(tz)
    since, until = period(start, end, zone_info)
    return Scope(
        since,
        until,
        zone_info,
        group_by,
        dialect,
        settings.accept_test_orders,
        settings.report_timezone,
        open_end=end is None,
        details=details,
        limit=limit,
        click_key=(),  # only `_Shared` keys its own passes by several click columns
        raw_clicks_from=(
            None
            if settings.click_retention_days is None
            else retention.horizon(settings.click_retention_days)
        ),
        **filters,
    )
