"""Charts drawn on the server as SVG: no script, no request elsewhere, readable without colour.

A module of our own rather than a charting library: the one chart the pages
need (clicks as bars, orders as a line, by day) is some sixty lines, while
pygal, the maintained choice, writes inline styles and scripts into its SVG,
which the dashboard's Content-Security-Policy refuses. Clicks are hatched
bars and orders a dashed line with square markers, so the two read apart in
grey too; the `<title>`/`<desc>` name the chart and every figure is also in
a table beside it. Each chart comes in two drawings, a wide one and a narrow
one for phones (the stylesheet shows one): scaled down to a phone, the wide
one's labels would shrink below legibility, and kept at size it would scroll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# (name, width, height) of each drawing, in the SVG's own units; its labels are 11 of them.
_SIZES = (("wide", 720, 240), ("narrow", 360, 220))
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 44, 16, 28


@dataclass(frozen=True, slots=True)
class DayFigure:
    day: str  # ISO date
    clicks: int
    orders: int


def _ceiling(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5, 10, 20, 50 …)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _tick(top: int, fraction: float) -> str:
    """An axis label; none half-way up a scale of 1, where it would be 0.5 of a click."""
    value = top * fraction
    return f"{int(value):,}" if value == int(value) else ""


def daily(days: Sequence[DayFigure], title: str) -> Markup:
    """Clicks (bars, left axis) and orders (line, right axis) for each day."""
    if not days:
        return Markup("")
    return Markup("").join(_daily(days, title, *size) for size in _SIZES)


def _daily(days: Sequence[DayFigure], title: str, name: str, width: int, height: int) -> Markup:
    clicks_top = _ceiling(max(max(d.clicks for d in days), 1))
    orders_top = _ceiling(max(max(d.orders for d in days), 1))
    inner_w, inner_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    slot = inner_w / len(days)
    bar = max(slot * 0.7, 1.0)
    base = _TOP + inner_h

    def y(value: int, top: int) -> float:
        return base - inner_h * value / top

    total_clicks = sum(d.clicks for d in days)
    total_orders = sum(d.orders for d in days)
    desc = (
        f"{len(days)} days from {days[0].day} to {days[-1].day}: {total_clicks:,} clicks and "
        f"{total_orders:,} orders in all; the most clicks in a day were "
        f"{max(d.clicks for d in days):,}."
    )
    parts = [
        f'<svg class="chart {name}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{name}-title {name}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{name}-title">{escape(title)}</title>',
        f'<desc id="{name}-desc">{escape(desc)}</desc>',
        # Each drawing its own pattern: one in a hidden drawing paints nothing in the other.
        f'<defs><pattern id="{name}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="bar-fill"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="bar-hatch" stroke-width="2"/></pattern></defs>',
    ]
    for fraction in (0, 0.5, 1):
        line_y = base - inner_h * fraction
        parts.append(
            f'<line x1="{_LEFT}" y1="{line_y:.1f}" x2="{width - _RIGHT}" y2="{line_y:.1f}" '
            'class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{line_y + 4:.1f}" class="axis" text-anchor="end">'
            f"{_tick(clicks_top, fraction)}</text>"
            f'<text x="{width - _RIGHT + 6}" y="{line_y + 4:.1f}" class="axis">'
            f"{_tick(orders_top, fraction)}</text>"
        )
    points = []
    for index, figure in enumerate(days):
        x = _LEFT + slot * index + (slot - bar) / 2
        top = y(figure.clicks, clicks_top)
        parts.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{base - top:.1f}" '
            f'fill="url(#{name}-hatch)" class="bar"><title>{figure.day}: {figure.clicks:,} clicks, '
            f"{figure.orders:,} orders</title></rect>"
        )
        points.append((_LEFT + slot * (index + 0.5), y(figure.orders, orders_top)))
    path = " ".join(f"{x:.1f},{py:.1f}" for x, py in points)
    parts.append(f'<polyline points="{path}" class="orders-line" fill="none" stroke-width="2"/>')
    parts += [
        f'<rect x="{x - 3:.1f}" y="{py - 3:.1f}" width="6" height="6" class="orders-mark"/>'
        for x, py in points
    ]
    for index in sorted({0, len(days) // 2, len(days) - 1}):
        x = _LEFT + slot * (index + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" class="axis" text-anchor="middle">'
            f"{days[index].day[5:]}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
