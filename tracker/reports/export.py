"""The report as CSV: one column per metric, and per currency for money (`revenue_EUR`)."""

from __future__ import annotations

import csv
import io
from typing import Any

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


def to_csv(rows: list[dict[str, Any]]) -> str:
    currencies = sorted({c for row in rows for metric in PER_CURRENCY for c in row[metric]})
    header = ["key", *SCALARS, *(f"{m}_{c}" for m in PER_CURRENCY for c in currencies)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
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


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        "(none)" if row["key"] is None else str(row["key"]),
        str(row["clicks"]),
        str(row["bot_clicks"]),
        str(row["unique_visitors"]),
        str(row["orders"]),
        _ratio(row["conversion_rate"]),
        _money(row["net_revenue"]),
        _money(row["cost"]),
        "  ".join(f"{value} {currency}" for currency, value in row["roas"].items()) or "-",
    ]


def to_table(report: dict[str, Any]) -> Table:
    """The report for `tracker stats`: the funnel columns, then a totals line."""
    title = f"{report['from']:%Y-%m-%d %H:%M} to {report['to']:%Y-%m-%d %H:%M} ({report['tz']})"
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
    for row in report["rows"]:
        table.add_row(*_cells(row))
    if report["rows"]:
        table.add_section()
    table.add_row(*_cells({"key": "TOTAL", **report["totals"]}))
    return table
