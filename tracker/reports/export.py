"""The report as CSV: one column per metric, and per currency for money (`revenue_EUR`)."""

from __future__ import annotations

import csv
import io
from typing import Any

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
