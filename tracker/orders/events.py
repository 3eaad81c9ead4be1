"""What a webhook tells us, once its platform's shape is read: orders and refunds, as facts."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from tracker.errors import Unauthorized


class InvalidSignature(Unauthorized):
    def __init__(self, platform: str) -> None:
        super().__init__(f"missing or invalid {platform} signature")


class UnprocessableDelivery(ValueError):
    """A correctly signed delivery we cannot read: stored with this error, answered 200."""


@dataclass(frozen=True, slots=True)
class OrderFacts:
    external_id: str
    amount_minor: int
    currency: str
    status: str
    occurred_at: datetime
    is_test: bool = False
    customer_ref: str | None = None  # the shop's customer id or e-mail; only its hash is kept
    click_id: str | None = None
    landing_url: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefundFacts:
    external_id: str
    order_external_id: str
    amount_minor: int
    currency: str
    refunded_at: datetime
    # A running total (Stripe's amount_refunded): it replaces, never adds to, what was stored.
    cumulative: bool = False


Facts = OrderFacts | RefundFacts


@dataclass(frozen=True, slots=True)
class Envelope:
    """Where a delivery comes from and what makes it unique, read from headers (or body)."""

    shop: str
    event_id: str
    topic: str


class PlatformModel(BaseModel):
    """A platform's payload: unknown fields are ignored, platforms add them all the time."""

    model_config = ConfigDict(extra="ignore")


def check_base64_hmac(platform: str, secret: str, body: bytes, given: str) -> None:
    """Shopify's and WooCommerce's scheme: base64 HMAC-SHA256 of the raw body, in constant time."""
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, given.encode("latin-1", "replace")):
        raise InvalidSignature(platform)


def body_digest(body: bytes) -> str:
    """Stands in for an event id when a platform sends none: same body, same delivery."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def click_id_in_url(url: str | None, param: str) -> str | None:
    """The click id parameter of a URL, full or a relative path with a query."""
    if not url:
        return None
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key == param and value:
            return value[:64]
    return None


def describe(error: ValidationError) -> str:
    """One line naming the first offending field, for `tracker deliveries --failed`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"
