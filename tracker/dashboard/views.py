"""What each page shows, put together from the reports service: the API's figures, no others.

Nothing here queries the database itself; it asks `reports.service` for the
same reports `/api/stats` answers and arranges their rows for a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.config import Settings
from tracker.dashboard.periods import Period
from tracker.db.engine import dialect_of
from tracker.links import repository as links_repository
from tracker.reports import service as reports
from tracker.reports.queries import Dimension, Scope
from tracker.reports.schemas import Metrics, Money, Report, Row

TOP_LINKS = 10


@dataclass(frozen=True, slots=True)
class Step:
    """One stage of the funnel, and the rate that leads to it from the one before."""

    label: str
    value: str
    rate_label: str | None = None
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Overview:
    totals: Metrics
    steps: list[Step]
    unattributed: Row | None
    campaigns: list[Row]
    channels: list[Row]
    top_links: list[Row]
    days: list[Row]
    main_currency: str | None
    titles: dict[str, str]  # of the top links, by slug
    raw_clicks_from: datetime | None  # another zone than the rollup's, past retention before it


def scope(
    session: AsyncSession,
    settings: Settings,
    period: Period,
    tz: str,
    group_by: Dimension | None,
    limit: int | None = None,
    **filters: str | None,
) -> Scope:
    return reports.scope_for(
        settings,
        dialect=dialect_of(session),
        start=period.first.isoformat(),
        end=period.last.isoformat(),
        tz=tz,
        group_by=group_by,
        details=False,  # no page shows a median time to order or unique visitors
        limit=limit,
        **filters,
    )


def main_currency(*amounts: Money) -> str | None:
    """The currency most of the money is in, to rank and headline by; None without money."""
    seen: dict[str, Decimal] = {}
    for money in amounts:
        for currency, value in money.items():
            seen[currency] = seen.get(currency, Decimal(0)) + abs(Decimal(value))
    return max(sorted(seen), key=lambda currency: seen[currency]) if seen else None


def pieces(texts: list[str]) -> Markup:
    """Amounts in several currencies, each kept whole: a narrow table column or a phone's
    card stacks them one per line instead of breaking "2648.53 EUR" across three."""
    if not texts:
        return Markup("–")
    sep = Markup('<span class="sep"> · </span>')
    return sep.join(Markup('<span class="piece">%s</span>') % escape(text) for text in texts)


def money_text(money: Money, first: str | None = None) -> Markup:
    """85.00 EUR · 1000 JPY, the main currency first; "–" for none."""
    order = sorted(money, key=lambda currency: (currency != first, currency))
    return pieces([f"{money[currency]} {currency}" for currency in order])


def ratios_text(ratios: dict[str, float], form: str = "{:.2f}×") -> Markup:
    """A return per currency: 2.36× EUR (on ad spend), 103.9% EUR (on investment)."""
    return pieces([f"{form.format(ratios[currency])} {currency}" for currency in sorted(ratios)])


def _minus(whole: Money, part: Money) -> Money:
    left = {c: Decimal(v) - Decimal(part.get(c, "0")) for c, v in whole.items()}
    return {c: str(v) for c, v in left.items() if v}


def _funnel(totals: Metrics, unattributed: Row | None, currency: str | None) -> list[Step]:
    """impressions → clicks → orders → revenue → net revenue, unattributed orders left out."""
    orders = totals.orders - (unattributed.orders if unattributed else 0)
    revenue = _minus(totals.revenue, unattributed.revenue) if unattributed else totals.revenue
    net = (
        _minus(totals.net_revenue, unattributed.net_revenue) if unattributed else totals.net_revenue
    )
    kept = None
    if currency and Decimal(revenue.get(currency, "0")):
        kept = float(Decimal(net.get(currency, "0")) / Decimal(revenue[currency]))
    impressions = "–" if totals.impressions is None else f"{totals.impressions:,}"
    return [
        Step("Impressions", impressions),
        Step("Clicks", f"{totals.clicks:,}", "click-through", totals.ctr),
        Step(
            "Orders", f"{orders:,}", "conversion", orders / totals.clicks if totals.clicks else None
        ),
        Step("Revenue", money_text(revenue, currency)),
        Step("Net revenue", money_text(net, currency), "kept after refunds", kept),
    ]


async def overview(
    session: AsyncSession,
    readers: reports.Readers,
    settings: Settings,
    period: Period,
    tz: str,
) -> Overview:
    by_link, campaigns, channels, days = await reports.reports(
        readers,
        [
            # One more than shown: the row of no link may rank among them.
            scope(session, settings, period, tz, "link", limit=TOP_LINKS + 1),
            *(
                scope(session, settings, period, tz, by)
                for by in ("utm_campaign", "utm_source", "day")
            ),
        ],
    )
    unattributed = next((row for row in by_link.rows if row.key is None), None)
    attributed = [row for row in by_link.rows if row.key is not None]
    currency = main_currency(by_link.totals.revenue, by_link.totals.cost)
    return Overview(
        totals=by_link.totals,
        steps=_funnel(by_link.totals, unattributed, currency),
        unattributed=unattributed,
        campaigns=[row for row in campaigns.rows if row.key is not None or row.clicks],
        channels=[row for row in channels.rows if row.key is not None or row.clicks],
        top_links=attributed[:TOP_LINKS],
        titles=await links_repository.titles(
            session, [row.key for row in attributed[:TOP_LINKS] if row.key]
        ),
        days=zero_filled(days, period),
        main_currency=currency,
        raw_clicks_from=by_link.raw_clicks_from,
    )


def zero_filled(report: Report, period: Period) -> list[Row]:
    """One row per day of the period, in order, days without clicks or orders included."""
    found = {row.key: row for row in report.rows}
    empty = reports.empty_row
    days = []
    day = period.first
    while day <= period.last:
        days.append(found.get(day.isoformat()) or empty(day.isoformat()))
        day += timedelta(days=1)
    return days


@dataclass(frozen=True, slots=True)
class LinkFigures:
    summary: Metrics
    steps: list[Step]
    main_currency: str | None
    days: list[Row]
    referrers: list[Row]
    devices: list[Row]
    countries: list[Row]
    raw_clicks_from: datetime | None  # referrers, devices, countries: past retention before it


def _counted(rows: list[Row]) -> list[Row]:
    """Rows with a human click or an order: a device only bots used would read 0, 0, –."""
    return [row for row in rows if row.clicks or row.orders]


async def link_figures(
    session: AsyncSession,
    readers: reports.Readers,
    settings: Settings,
    period: Period,
    tz: str,
    slug: str,
) -> LinkFigures:
    dimensions: list[Dimension | None] = [None, "day", "referrer", "device", "country"]
    summary, days, referrers, devices, countries = await reports.reports(
        readers, [scope(session, settings, period, tz, d, link=slug) for d in dimensions]
    )
    totals = summary.totals
    currency = main_currency(totals.revenue, totals.cost)
    return LinkFigures(
        summary=totals,
        steps=_funnel(totals, None, currency),
        main_currency=currency,
        days=zero_filled(days, period),
        referrers=_counted(referrers.rows)[:10],
        devices=_counted(devices.rows)[:10],
        countries=_counted(countries.rows)[:10],
        raw_clicks_from=referrers.raw_clicks_from,
    )
