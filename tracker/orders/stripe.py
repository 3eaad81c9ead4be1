"""Stripe Checkout webhooks, verified by Stripe's own library (t=…,v1=…, 5-minute tolerance)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from tracker import money
from tracker.orders.events import (
    Envelope,
    Facts,
    InvalidSignature,
    OrderFacts,
    PlatformModel,
    RefundFacts,
    UnprocessableDelivery,
    body_digest,
    click_id_in_url,
)
from tracker.orders.platform import Platform

TOLERANCE_SECONDS = 300
SESSION_TOPICS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
SESSION_FAILED = "checkout.session.async_payment_failed"
REFUND_TOPIC = "charge.refunded"


class _CustomerDetails(PlatformModel):
    email: str | None = None


class _Session(PlatformModel):
    id: str
    amount_total: int
    currency: str
    created: int
    payment_status: str | None = None
    payment_intent: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    customer: str | None = None
    customer_details: _CustomerDetails | None = None


class _Charge(PlatformModel):
    id: str
    payment_intent: str | None = None
    amount_refunded: int
    currency: str
    created: int


class _EventData(PlatformModel):
    object: dict[str, Any]


class _Event(PlatformModel):
    id: str
    type: str
    created: int
    livemode: bool = True
    data: _EventData


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    import stripe  # imported on first use: ~10 MB that a shop without Stripe never needs

    header = headers.get("stripe-signature")
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidSignature("Stripe") from exc
    # The library refuses a signature older than the tolerance; one dated further ahead is as
    # suspect (a replay prepared in advance), so the tolerance holds both ways.
    signed_at = next((part[2:] for part in (header or "").split(",") if part.startswith("t=")), "")
    if not signed_at.isdigit() or int(signed_at) > time.time() + TOLERANCE_SECONDS:
        raise InvalidSignature("Stripe")


def envelope(headers: Mapping[str, str], body: bytes) -> Envelope:
    try:
        event = json.loads(body)
        return Envelope(
            shop=str(event.get("account") or "")[:255],
            event_id=str(event["id"])[:255],
            topic=str(event["type"])[:100],
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return Envelope(shop="", event_id=body_digest(body), topic="")


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _session(session: _Session, event: _Event, param: str) -> OrderFacts:
    status = {"paid": "paid", "no_payment_required": "paid"}.get(
        session.payment_status or "", "pending"
    )
    if event.type == SESSION_FAILED:
        status = "cancelled"
    click_id = session.client_reference_id or session.metadata.get(param)
    email = session.customer_details.email if session.customer_details else None
    landing = session.metadata.get("landing_url")
    return OrderFacts(
        # The payment intent, when there is one, is what refunds name.
        external_id=session.payment_intent or session.id,
        amount_minor=money.minor_from_stripe(session.amount_total, session.currency),
        currency=money.normalize_currency(session.currency),
        status=status,
        occurred_at=_time(session.created),
        is_test=not event.livemode,
        customer_ref=session.customer or (email.strip().lower() if email else None),
        click_id=str(click_id)[:64] if click_id else click_id_in_url(landing, param),
        landing_url=str(landing)[:2048] if landing else None,
        updated_at=_time(event.created),
    )


def _refund(charge: _Charge) -> RefundFacts:
    return RefundFacts(
        external_id=charge.id,  # one running total per charge
        order_external_id=charge.payment_intent or charge.id,
        amount_minor=money.minor_from_stripe(charge.amount_refunded, charge.currency),
        currency=money.normalize_currency(charge.currency),
        refunded_at=_time(charge.created),
        cumulative=True,
    )


def parse(topic: str, body: bytes, click_id_param: str) -> list[Facts]:
    event = _Event.model_validate_json(body)
    if event.type in (*SESSION_TOPICS, SESSION_FAILED):
        session = _Session.model_validate(event.data.object)
        return [_session(session, event, click_id_param)]
    if event.type == REFUND_TOPIC:
        return [_refund(_Charge.model_validate(event.data.object))]
    raise UnprocessableDelivery(f"event type {topic!r} is not one Tracker reads")


PLATFORM = Platform(
    name="stripe",
    path="/stripe",
    summary="Stripe checkout.session.completed / async_payment_succeeded and charge.refunded.",
    secret=lambda settings: settings.stripe_secret,
    verify=verify,
    envelope=envelope,
    parse=parse,
)
