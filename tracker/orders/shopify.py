"""Shopify order webhooks: base64 HMAC-SHA256 of the raw body with the app's secret."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from pydantic import Field

from tracker import money
from tracker.clock import as_utc
from tracker.orders.events import (
    Envelope,
    Facts,
    OrderFacts,
    PlatformModel,
    RefundFacts,
    UnprocessableDelivery,
    body_digest,
    check_base64_hmac,
    click_id_in_url,
)
from tracker.orders.platform import Platform

ORDER_TOPICS = ("orders/create", "orders/paid", "orders/updated", "orders/cancelled")
REFUND_TOPIC = "refunds/create"
_PAID = {"paid", "partially_refunded", "partially_paid", "authorized"}


class _Customer(PlatformModel):
    id: int | str | None = None


class _NoteAttribute(PlatformModel):
    name: str
    value: str | None = None


class _Transaction(PlatformModel):
    amount: Decimal
    currency: str | None = None
    kind: str
    status: str


class _Refund(PlatformModel):
    id: int | str
    order_id: int | str
    created_at: datetime
    transactions: list[_Transaction] = Field(default_factory=list)


class _Order(PlatformModel):
    id: int | str
    created_at: datetime
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    financial_status: str | None = None
    currency: str
    total_price: Decimal
    test: bool = False
    email: str | None = None
    customer: _Customer | None = None
    note_attributes: list[_NoteAttribute] = Field(default_factory=list)
    landing_site: str | None = None
    refunds: list[_Refund] = Field(default_factory=list)


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    check_base64_hmac("Shopify", secret, body, headers.get("x-shopify-hmac-sha256", ""))


def envelope(headers: Mapping[str, str], body: bytes) -> Envelope:
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    return Envelope(
        shop=headers.get("x-shopify-shop-domain", "")[:255],
        event_id=(event_id or body_digest(body))[:255],
        topic=headers.get("x-shopify-topic", "")[:100],
    )


def _refund(refund: _Refund, fallback_currency: str | None) -> RefundFacts:
    done = [t for t in refund.transactions if t.kind == "refund" and t.status == "success"]
    currency = next((t.currency for t in done if t.currency), fallback_currency)
    if currency is None:
        raise UnprocessableDelivery("refund without a currency")
    amount = sum((t.amount for t in done), Decimal(0))
    return RefundFacts(
        external_id=str(refund.id),
        order_external_id=str(refund.order_id),
        amount_minor=money.to_minor(amount, currency),
        currency=money.normalize_currency(currency),
        refunded_at=as_utc(refund.created_at),
    )


def _status(order: _Order) -> str:
    if order.cancelled_at is not None:
        return "cancelled"
    if order.financial_status == "refunded":
        return "refunded"
    if order.financial_status == "voided":
        return "cancelled"
    return "paid" if order.financial_status in _PAID else "pending"


def _order(order: _Order, click_id_param: str) -> list[Facts]:
    noted = next(
        (a.value for a in order.note_attributes if a.name == click_id_param and a.value), None
    )
    customer = order.customer.id if order.customer and order.customer.id else order.email
    facts: list[Facts] = [
        OrderFacts(
            external_id=str(order.id),
            amount_minor=money.to_minor(order.total_price, order.currency),
            currency=money.normalize_currency(order.currency),
            status=_status(order),
            occurred_at=as_utc(order.created_at),
            is_test=order.test,
            customer_ref=str(customer) if customer else None,
            click_id=noted[:64] if noted else click_id_in_url(order.landing_site, click_id_param),
            landing_url=order.landing_site[:2048] if order.landing_site else None,
            updated_at=as_utc(order.updated_at) if order.updated_at else None,
        )
    ]
    facts += [_refund(refund, order.currency) for refund in order.refunds]
    return facts


def parse(topic: str, body: bytes, click_id_param: str) -> list[Facts]:
    if topic in ORDER_TOPICS:
        return _order(_Order.model_validate_json(body), click_id_param)
    if topic == REFUND_TOPIC:
        return [_refund(_Refund.model_validate_json(body), None)]
    raise UnprocessableDelivery(f"topic {topic!r} is not one Tracker reads")


PLATFORM = Platform(
    name="shopify",
    path="/shopify",
    summary="Shopify orders/create, orders/paid, orders/updated, orders/cancelled and "
    "refunds/create.",
    secret=lambda settings: settings.shopify_secret,
    verify=verify,
    envelope=envelope,
    parse=parse,
)
