"""A report's answer, typed: the JSON of `/api/stats`, the rows of its CSV, the CLI's table.

Every metric of SPEC §8 is a field with its definition, so the OpenAPI
document describes it; every way of showing a report renders these rows.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from tracker.reports.queries import Dimension

Money = dict[str, str]
"""Decimal strings by ISO 4217 currency, e.g. {"EUR": "123.40"}; currencies never mix."""

_PER_CURRENCY = "per currency, "


class Metrics(BaseModel):
    """The funnel of one row, or of the whole report."""

    clicks: int = Field(description="human clicks (GET, not a bot) in the period")
    bot_clicks: int = Field(description="bot clicks in the period")
    unique_visitors: int = Field(description="distinct visitors among the human clicks")
    orders: int = Field(
        description="attributed orders placed in the period, cancelled ones left out"
    )
    conversion_rate: float | None = Field(description="orders / clicks (null where clicks is 0)")
    revenue: Money = Field(description=_PER_CURRENCY + "the orders' amounts")
    refunds: Money = Field(description=_PER_CURRENCY + "what was refunded on them")
    net_revenue: Money = Field(description=_PER_CURRENCY + "revenue - refunds")
    average_order_value: Money = Field(description=_PER_CURRENCY + "revenue / orders")
    revenue_per_click: Money = Field(description=_PER_CURRENCY + "net_revenue / clicks")
    median_time_to_order_s: float | None = Field(
        description="median seconds from click to order (orders credited by their click id)"
    )
    impressions: int | None = Field(description="from the spend recorded for the period")
    cost: Money = Field(description=_PER_CURRENCY + "the spend recorded for the period")
    ctr: float | None = Field(description="clicks / impressions")
    roas: dict[str, float] = Field(description=_PER_CURRENCY + "net_revenue / cost")
    roi: dict[str, float] = Field(description=_PER_CURRENCY + "(net_revenue - cost) / cost")


class Row(Metrics):
    key: str | None = Field(
        description="the group's value (a slug, a UTM value, a day…); null: unattributed orders"
    )


class Report(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    start: datetime = Field(alias="from", description="the period's first instant (UTC)")
    end: datetime = Field(alias="to", description="the instant after the period (UTC)")
    tz: str = Field(description="the IANA zone that cuts days, weeks and months")
    group_by: Dimension | None
    rows: list[Row] = Field(description="time rows in time order, others by net revenue")
    totals: Metrics
    raw_clicks_from: datetime | None = Field(
        None,
        description="set when the report needed raw clicks (grouped by referrer, device, "
        "browser, os or country, or cut in a time zone other than TRACKER_REPORT_TIMEZONE) "
        "and its period starts before TRACKER_CLICK_RETENTION_DAYS keeps them: its clicks "
        "are counted from this instant on, older ones being past retention; orders, revenue "
        "and spend cover the whole period",
    )


class DayPoint(BaseModel):
    date: date
    clicks: int
    orders: int
    net_revenue: Money


class LinkReport(Report):
    link: str
    series: list[DayPoint] = Field(description="every day of the period, zeros included")
