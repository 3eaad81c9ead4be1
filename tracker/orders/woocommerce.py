"""WooCommerce order webhooks: base64 HMAC-SHA256 of the raw body with the webhook's secret."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

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
)
from tracker.orders.platform import Platform

ORDER_TOPICS = ("order.created", "order.updated")
# WooCommerce checks a new webhook's URL with this unsigned form post.
_PING = re.compile(rb"webhook_id=\d+")
_PAID = {"processing", "completed"}
_CANCELLED = {"cancelled", "failed", "trash"}


class _Meta(PlatformModel):
    key: str
    value: Any = None


class _Refund(PlatformModel):
    id: int | str
    total: Decimal


class _Billing(PlatformModel):
    email: str | None = None


class _Order(PlatformModel):
    id: int | str
    status: str
    currency: str
    total: Decimal
    date_created_gmt: datetime
    date_modified_gmt: datetime | None = None
    customer_id: int | str | None = None
    billing: _Billing | None = None
    meta_data: list[_Meta] = Field(default_factory=list)
    refunds: list[_Refund] = Field(default_factory=list)


def is_ping(body: bytes) -> bool:
    return _PING.fullmatch(body.strip()) is not None


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    check_base64_hmac("WooCommerce", secret, body, headers.get("x-wc-webhook-signature", ""))


def envelope(headers: Mapping[str, str], body: bytes) -> Envelope:
    return Envelope(
        shop=headers.get("x-wc-webhook-source", "").rstrip("/")[:255],
        event_id=(headers.get("x-wc-webhook-delivery-id") or body_digest(body))[:255],
        topic=headers.get("x-wc-webhook-topic", "")[:100],
    )


def _status(status: str) -> str:
    if status in _CANCELLED:
        return "cancelled"
    if status == "refunded":
        return "refunded"
    return "paid" if status in _PAID else "pending"


def _click_id(order: _Order, param: str) -> str | None:
    for meta in order.meta_data:
        if meta.key in (param, f"_{param}") and isinstance(meta.value, str) and meta.value:
            return meta.value[:64]
    return None


def _order(order: _Order, param: str) -> list[Facts]:
    currency = money.normalize_currency(order.currency)
    customer = order.customer_id if order.customer_id not in (None, 0, "0", "") else None
    if customer is None and order.billing and order.billing.email:
        customer = order.billing.email.strip().lower()
    modified = as_utc(order.date_modified_gmt or order.date_created_gmt)
    facts: list[Facts] = [
        OrderFacts(
            external_id=str(order.id),
            amount_minor=money.to_minor(order.total, currency),
            currency=currency,
            status=_status(order.status),
            occurred_at=as_utc(order.date_created_gmt),
            customer_ref=str(customer) if customer is not None else None,
            click_id=_click_id(order, param),
            updated_at=modified,
        )
    ]
    facts += [
        RefundFacts(
            external_id=str(refund.id),
            order_external_id=str(order.id),
            amount_minor=money.to_minor(abs(refund.total), currency),  # listed as negative
            currency=currency,
            refunded_at=modified,
        )
        for refund in order.refunds
    ]
    return facts


def parse(topic: str, body: bytes, click_id_param: str) -> list[Facts]:
    if topic not in ORDER_TOPICS:
        raise UnprocessableDelivery(f"topic {topic!r} is not one Tracker reads")
    return _order(_Order.model_validate_json(body), click_id_param)


PLATFORM = Platform(
    name="woocommerce",
    path="/woocommerce",
    summary="WooCommerce order.created and order.updated (status and refunds included).",
    secret=lambda settings: settings.woocommerce_secret,
    verify=verify,
    envelope=envelope,
    parse=parse,
    is_ping=is_ping,
)
