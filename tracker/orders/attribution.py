"""Which link an order is credited to: the four rules of SPEC §6, first that applies wins.

1. click    — the order names a stored click at most the window before it;
2. utm      — no usable click, but the landing URL's UTM tags match exactly one link;
3. customer — the same customer's earlier order, within the window, was credited by 1 or 2;
4. none     — stored and reported as unattributed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tracker.db.engine import raw
from tracker.links import utm_rollup
from tracker.links.utm import read_utm
from tracker.models import Click, Order
from tracker.orders import repository
from tracker.orders.waiting import CLOCK_SKEW

_MILLISECOND = timedelta(milliseconds=1)
_REQUIRED_UTM = ("utm_source", "utm_medium", "utm_campaign")


async def _credit(
    session: AsyncSession, order: Order, rule: str, link_id: int | None, click: Click | None = None
) -> str:
    order.attribution = rule
    order.link_id = link_id
    triple: tuple[str | None, ...] = (None, None, None)
    if link_id is not None:
        triple = await utm_rollup.credited(await raw(await session.connection()), link_id)
    order.utm_source, order.utm_medium, order.utm_campaign = triple
    order.attributed_click_id = click.id if click else None
    order.ms_to_order = (
        round((order.occurred_at - click.clicked_at) / _MILLISECOND) if click else None
    )
    return rule


async def attribute(session: AsyncSession, order: Order, window: timedelta) -> str:
    """Credit ``order`` by the first rule that applies; returns the rule. Counting it is the
    caller's: the webhooks count into /metrics, the click writer into its published figures
    (its process serves no metrics)."""
    if order.click_id:
        click = await repository.click(session, order.click_id)
        if click is not None and -CLOCK_SKEW <= order.occurred_at - click.clicked_at <= window:
            return await _credit(session, order, "click", click.link_id, click)

    tags = read_utm(order.landing_url) if order.landing_url else {}
    if all(tags.get(field) for field in _REQUIRED_UTM):
        wanted = {
            field: tags[field] for field in (*_REQUIRED_UTM, "utm_content") if tags.get(field)
        }
        matches = await repository.links_with_utm(session, wanted)
        if len(matches) == 1:
            return await _credit(session, order, "utm", matches[0])

    if order.customer_hash:
        link_id = await repository.earlier_attributed_link(
            session, order, order.occurred_at - window
        )
        if link_id is not None:
            return await _credit(session, order, "customer", link_id)

    return await _credit(session, order, "none", None)


async def attribute_waiting(
    session: AsyncSession, order_ids: Sequence[int], window: timedelta
) -> int:
    """Credit orders that arrived before the click they name was written (waiting.py found
    them); returns how many were credited to it."""
    credited = 0
    for order in await repository.orders_by_id(session, order_ids):
        credited += await attribute(session, order, window) == "click"
    return credited
