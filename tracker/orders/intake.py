"""Webhook intake: verify, store durably, commit, then turn the delivery into orders.

It owns the delivery's transactions: the stored delivery is committed before
anything may fail on reading it (a 2xx means the delivery is durable), and
what it became is committed before the answer. A platform delivery that
cannot be read is kept with its error and answered 200, so the platform
neither retries it for hours nor switches the webhook off; `tracker
deliveries --failed` lists them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import metrics
from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db.engine import DATABASE_ERRORS
from tracker.errors import InvalidBody, NotFound
from tracker.models import Delivery, Order
from tracker.orders import attribution, privacy, repository
from tracker.orders.events import (
    Envelope,
    InvalidSignature,
    OrderFacts,
    RefundFacts,
    UnprocessableDelivery,
)
from tracker.orders.platform import Platform
from tracker.orders.registry import PLATFORMS

log = logging.getLogger(__name__)

# A delivery stored but unread this long was not merely in flight in a concurrent request.
STUCK = timedelta(minutes=1)


class Receipt(BaseModel):
    """What a webhook answers: kept and read, already had, kept with an error, or a ping."""

    status: Literal["accepted", "duplicate", "failed", "pong"]
    error: str | None = None


def _secret(platform: Platform, settings: Settings) -> str:
    secret = platform.secret(settings)
    if secret is None:
        raise NotFound("this webhook endpoint is off (its secret is not set)")
    return secret.get_secret_value()


def _check(platform: Platform, body: bytes, headers: Mapping[str, str], key: str) -> None:
    """The signature, then the shape where the platform has a strict one; counted if refused."""
    try:
        platform.verify(key, body, headers)
    except InvalidSignature:
        metrics.WEBHOOKS.labels(platform.name, "rejected").inc()
        raise
    if platform.body_model is not None:
        try:
            platform.body_model.model_validate_json(body)
        except ValidationError as exc:
            metrics.WEBHOOKS.labels(platform.name, "invalid").inc()
            raise InvalidBody(exc.errors()) from exc


async def receive(
    session: AsyncSession,
    platform: Platform,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings,
) -> Receipt:
    """One delivery, from its raw body to its orders. Raises NotFound (the endpoint is off),
    InvalidSignature or InvalidBody, each before anything is stored."""
    key = _secret(platform, settings)
    if platform.is_ping(body):
        return Receipt(status="pong")
    _check(platform, body, headers, key)
    envelope = platform.envelope(headers, body)
    delivery_id = await store_delivery(session, platform.name, envelope, body)
    if delivery_id is None:
        metrics.WEBHOOKS.labels(platform.name, "duplicate").inc()
        return Receipt(status="duplicate")
    await session.commit()  # durable before anything else may fail
    error = await process(session, delivery_id, settings)
    await session.commit()
    metrics.WEBHOOKS.labels(platform.name, "failed" if error else "accepted").inc()
    return Receipt(status="failed", error=error) if error else Receipt(status="accepted")


def customer_hash(platform: str, shop: str, reference: str) -> str:
    """The shop's customer id or e-mail is never stored, only this."""
    text = f"{platform}\x00{shop}\x00{reference.strip().lower()}"
    return hashlib.sha256(text.encode()).hexdigest()


async def store_delivery(
    session: AsyncSession, platform: str, envelope: Envelope, body: bytes
) -> int | None:
    """The id of the new delivery, or of a stored one never processed; None for a redelivery.

    The body is stored without its personal fields (privacy.py).
    """
    delivery_id = await repository.insert_delivery(session, platform, envelope, privacy.scrub(body))
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
    metrics.ATTRIBUTIONS.labels(await attribution.attribute(session, order, window)).inc()
    await session.flush()
    return order


async def apply(session: AsyncSession, delivery: Delivery, settings: Settings) -> None:
    """Read a stored delivery into orders and refunds; raises UnprocessableDelivery."""
    platform = PLATFORMS.get(delivery.platform)
    if platform is None:
        raise UnprocessableDelivery(f"platform {delivery.platform!r} is not registered")
    window = timedelta(days=settings.attribution_window_days)
    for fact in platform.read(delivery.topic, delivery.body, settings.click_id_param):
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
        error = str(exc)
    except DATABASE_ERRORS:
        raise  # the database is away: 503, the platform retries, the delivery is read then
    except Exception as exc:  # a bug of ours: the delivery is kept, listed and reprocessable
        log.exception("delivery %d could not be processed", delivery_id)
        error = f"unexpected error ({type(exc).__name__}); reprocess it once fixed"
    else:
        return None
    await repository.mark_delivery(session, delivery_id, error[:2000])
    return error


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
