"""The report as CSV: one column per metric, and per currency for money (`revenue_EUR`)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from tracker.reports.schemas import Metrics, Report, Row

if TYPE_CHECKING:
    from rich.table import Table

SCALARS = (
    "clicks",
    "bot_clicks",
    "unique_visitors",
    "orders",
    "conversion_rate",
    "median_time_to_order_s",
    "impressions",
    "ctr",
)
PER_CURRENCY = (
    "revenue",
    "refunds",
    "net_revenue",
    "average_order_value",
    "revenue_per_click",
    "cost",
    "roas",
    "roi",
)


def to_csv(rows: list[Row]) -> str:
    fields = [dict(row) for row in rows]
    currencies = sorted({c for row in fields for metric in PER_CURRENCY for c in row[metric]})
    header = ["key", *SCALARS, *(f"{m}_{c}" for m in PER_CURRENCY for c in currencies)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in fields:
        values = [row["key"], *(row[m] for m in SCALARS)]
        values += [row[m].get(c) for m in PER_CURRENCY for c in currencies]
        writer.writerow(["" if value is None else _safe(value) for value in values])
    return buffer.getvalue()


def _safe(value: object) -> object:
    """Keys come from user input (slugs, UTM values): never let a spreadsheet run them."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _money(values: dict[str, Any]) -> str:
    return "  ".join(f"{amount} {currency}" for currency, amount in values.items()) or "-"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _cells(key: str | None, row: Metrics) -> list[str]:
    return [
        "(none)" if key is None else key,
        str(row.clicks),
        str(row.bot_clicks),
        str(row.unique_visitors),
        str(row.orders),
        _ratio(row.conversion_rate),
        _money(row.net_revenue),
        _money(row.cost),
        _money(row.roas),
    ]


def to_table(report: Report) -> Table:
    """The report for `tracker stats`: the funnel columns, then a totals line."""
    from rich.table import Table  # here: `tracker serve` never draws one (6 MB it keeps)

    title = f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} ({report.tz})"
    table = Table(title=title)
    for name in (
        "",
        "clicks",
        "bots",
        "visitors",
        "orders",
        "conv.",
        "net revenue",
        "cost",
        "ROAS",
    ):
        table.add_column(name, justify="right" if name else "left")
    for row in report.rows:
        table.add_row(*_cells(row.key, row))
    if report.rows:
        table.add_section()
    table.add_row(*_cells("TOTAL", report.totals))
    return table
