"""The service's own order webhook: Standard Webhooks signatures, a strict JSON shape.

Its caller is a developer wiring up a custom shop, so unlike the platform
endpoints it answers a wrong body with a precise 400/422 and stores nothing.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tracker import money
from tracker.clock import as_utc
from tracker.orders.events import (
    Envelope,
    Facts,
    InvalidSignature,
    OrderFacts,
    RefundFacts,
    click_id_in_url,
)
from tracker.orders.platform import Platform

TOPIC = "order"


def _amount(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite decimal")
    if value < 0:
        raise ValueError("must not be negative")
    return value


Amount = Annotated[Decimal, AfterValidator(_amount)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class GenericOrder(BaseModel):
    """An order as a custom shop reports it; amounts are decimal strings ("12.30")."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order_id": "1001",
                    "amount": "49.90",
                    "currency": "EUR",
                    "occurred_at": "2026-11-20T14:03:00Z",
                    "status": "paid",
                    "click_id": "3q2-7wAAAAB0cmFja2Vy",
                    "customer_id": "cust-42",
                }
            ]
        },
    )

    order_id: Text
    currency: money.Currency  # before the amounts, which are checked against it
    amount: Amount
    occurred_at: datetime
    status: Literal["paid", "cancelled", "refunded"]
    click_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    landing_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    customer_id: Text | None = None
    refunded_amount: Amount | None = None
    shop: Annotated[str, StringConstraints(max_length=255)] = Field(
        "", description="which of your shops, if you have several"
    )

    @field_validator("amount", "refunded_amount")
    @classmethod
    def _fits_the_currency(cls, amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
        """No 12.345 EUR, no 10.5 JPY, nothing over money.MAX_MINOR: the error names the field."""
        if amount is not None and "currency" in info.data:
            money.require_fit(amount, info.data["currency"])
        return amount


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError, binascii.Error) as exc:
        raise InvalidSignature("Standard Webhooks") from exc


def envelope(headers: Mapping[str, str], body: bytes) -> Envelope:
    """Read from a body already checked against GenericOrder (the endpoint's body_model)."""
    order = GenericOrder.model_validate_json(body)
    return Envelope(shop=order.shop, event_id=headers.get("webhook-id", "")[:255], topic=TOPIC)


def facts(order: GenericOrder, click_id_param: str) -> list[Facts]:
    occurred_at = as_utc(order.occurred_at)
    found: list[Facts] = [
        OrderFacts(
            external_id=order.order_id,
            amount_minor=money.to_minor(order.amount, order.currency),
            currency=order.currency,
            status=order.status,
            occurred_at=occurred_at,
            customer_ref=order.customer_id,
            click_id=order.click_id or click_id_in_url(order.landing_url, click_id_param),
            landing_url=order.landing_url,
        )
    ]
    refunded = order.refunded_amount
    if refunded is None and order.status == "refunded":
        refunded = order.amount
    if refunded is not None:
        found.append(
            RefundFacts(
                external_id=f"{order.order_id}:refunded",  # one running total per order
                order_external_id=order.order_id,
                amount_minor=money.to_minor(refunded, order.currency),
                currency=order.currency,
                refunded_at=occurred_at,
                cumulative=True,
            )
        )
    return found


def parse(topic: str, body: bytes, click_id_param: str) -> list[Facts]:
    return facts(GenericOrder.model_validate_json(body), click_id_param)


PLATFORM = Platform(
    name="generic",
    path="/orders",
    summary="Orders from a custom shop, signed the Standard Webhooks way.",
    secret=lambda settings: settings.webhook_secret,
    verify=verify,
    envelope=envelope,
    parse=parse,
    body_model=GenericOrder,
)
