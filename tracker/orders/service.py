"""Webhook intake: store the delivery durably, then turn it into orders and refunds."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.models import Delivery, Order
from tracker.orders import attribution, generic, repository, shopify, stripe, woocommerce
from tracker.orders.events import Envelope, Facts, OrderFacts, RefundFacts, UnprocessableDelivery

# A delivery stored but unread this long was not merely in flight in a concurrent request.
STUCK = timedelta(minutes=1)

Parser = Callable[[str, bytes, str], list[Facts]]

PARSERS: dict[str, Parser] = {
    "shopify": shopify.parse,
    "woocommerce": woocommerce.parse,
    "stripe": stripe.parse,
    "generic": generic.parse,
}


def customer_hash(platform: str, shop: str, reference: str) -> str:
    """The shop's customer id or e-mail is never stored, only this."""
    text = f"{platform}\x00{shop}\x00{reference.strip().lower()}"
    return hashlib.sha256(text.encode()).hexdigest()


async def store_delivery(
    session: AsyncSession, platform: str, envelope: Envelope, body: bytes
) -> int | None:
    """The id of the new delivery, or of a stored one never processed; None for a redelivery."""
    delivery_id = await repository.insert_delivery(session, platform, envelope, body)
    if delivery_id is not None:
        return delivery_id
    stored = await repository.find_delivery(session, platform, envelope)
    if stored is not None and stored.processed_at is None and stored.received_at < utcnow() - STUCK:
        return stored.id  # stored, but its process died before reading it: read it now
    return None


async def _apply_order(
    session: AsyncSession, platform: str, shop: str, facts: OrderFacts, window: timedelta
) -> Order:
    order = await repository.order_row(session, platform, shop, facts.external_id)
    fresh = order.source_updated_at is None or facts.updated_at is None
    if not fresh and facts.updated_at is not None and order.source_updated_at is not None:
        fresh = facts.updated_at >= order.source_updated_at
    if fresh:  # an older update arriving late never overwrites a newer one
        order.amount_minor = facts.amount_minor
        order.currency = facts.currency
        order.status = facts.status
        order.occurred_at = facts.occurred_at
        order.is_test = facts.is_test
        order.source_updated_at = facts.updated_at
        if facts.customer_ref:
            order.customer_hash = customer_hash(platform, shop, facts.customer_ref)
        order.click_id = facts.click_id or order.click_id
        order.landing_url = facts.landing_url or order.landing_url
    await session.flush()
    await attribution.attribute(session, order, window)
    await session.flush()
    return order


async def apply(session: AsyncSession, delivery: Delivery, settings: Settings) -> None:
    """Read a stored delivery into orders and refunds; raises UnprocessableDelivery."""
    parse = PARSERS[delivery.platform]
    window = timedelta(days=settings.attribution_window_days)
    for fact in parse(delivery.topic, delivery.body, settings.click_id_param):
        if isinstance(fact, RefundFacts):
            await repository.upsert_refund(session, delivery.platform, delivery.shop, fact)
        else:
            await _apply_order(session, delivery.platform, delivery.shop, fact, window)
    await repository.mark_delivery(session, delivery.id, None)


async def process(session: AsyncSession, delivery_id: int, settings: Settings) -> str | None:
    """Apply a committed delivery; on an unreadable one, keep the error. Returns the error."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        raise LookupError(f"no delivery {delivery_id}")
    try:
        async with session.begin_nested():
            await apply(session, delivery, settings)
    except UnprocessableDelivery as exc:
        await repository.mark_delivery(session, delivery_id, str(exc)[:2000])
        return str(exc)
    return None


async def reattribute(
    session: AsyncSession, settings: Settings, since: datetime | None
) -> tuple[int, int]:
    """Re-read every stored delivery received since ``since``, in order, with today's rules.

    Orders and their attribution are derived again from the raw bodies, so a
    new window, a fixed parser or a late link all take effect. Returns
    (deliveries applied, deliveries that failed).
    """
    applied = failed = 0
    for delivery in await repository.deliveries(session, since=since):
        error = await process(session, delivery.id, settings)
        failed += error is not None
        applied += error is None
    return applied, failed
