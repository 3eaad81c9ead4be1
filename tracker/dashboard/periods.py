"""The periods a dashboard page offers, as the `from`/`to` dates of a report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from tracker.clock import utcnow

Preset = Literal["7d", "30d", "90d", "month", "last-month", "custom"]
PRESETS: dict[Preset, str] = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
    "last-month": "Last month",
    "custom": "Custom dates",
}


@dataclass(frozen=True, slots=True)
class Period:
    preset: Preset
    first: date  # both inclusive, in the page's time zone
    last: date

    @property
    def label(self) -> str:
        if self.preset != "custom":
            return PRESETS[self.preset]
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y}"


def period(preset: Preset, zone: ZoneInfo, first: date | None, last: date | None) -> Period:
    """The days of ``preset`` up to today in ``zone``; "custom" takes ``first`` and ``last``."""
    today = utcnow().astimezone(zone).date()
    if preset == "custom" and first is not None and last is not None:
        return Period("custom", min(first, last), max(first, last))
    if preset == "month":
        return Period(preset, today.replace(day=1), today)
    if preset == "last-month":
        end = today.replace(day=1) - timedelta(days=1)
        return Period(preset, end.replace(day=1), end)
    days = {"7d": 7, "90d": 90}.get(preset, 30)
    return Period(preset if preset in ("7d", "90d") else "30d", today - timedelta(days - 1), today)
