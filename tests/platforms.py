"""Webhook deliveries as the platforms send them, signed as the platforms sign them.

The signatures are computed here from the platforms' documentation, never by
calling Tracker's own verification code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

SHOPIFY_SECRET = "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"
WOOCOMMERCE_SECRET = "wc-secret: correct horse battery staple"
STRIPE_SECRET = "whsec_8f1b0c2d3e4f5a6b7c8d9e0f1a2b3c4d"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"tracker-test-key-of-32-bytes!!!!").decode()

PAYLOADS = Path(__file__).parent / "orders" / "payloads"


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A stored real-shaped payload, with top-level fields changed."""
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    data.update(changes)
    return data


def now(naive: bool = False) -> str:
    """The current time as the platforms write it (WooCommerce's *_gmt fields carry no zone)."""
    moment = datetime.now(UTC).replace(microsecond=0)
    return moment.replace(tzinfo=None).isoformat() if naive else moment.isoformat()


def encode(data: dict[str, Any] | bytes) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data).encode()


def _b64_hmac(secret: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


async def shopify(
    http: httpx.AsyncClient,
    topic: str,
    data: dict[str, Any] | bytes,
    *,
    event_id: str | None = None,
    shop: str = "mugs.myshopify.com",
    secret: str = SHOPIFY_SECRET,
) -> httpx.Response:
    body = encode(data)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": _b64_hmac(secret.encode(), body),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Triggered-At": "2026-11-20T14:04:07.123456Z",
    }
    return await http.post("/webhooks/shopify", content=body, headers=headers)


async def woocommerce(
    http: httpx.AsyncClient,
    topic: str,
    data: dict[str, Any] | bytes,
    *,
    delivery_id: str | None = None,
    secret: str = WOOCOMMERCE_SECRET,
) -> httpx.Response:
    body = encode(data)
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.1 Hookshot (WordPress/6.7)",
        "X-WC-Webhook-Source": "https://totes.example/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": _b64_hmac(secret.encode(), body),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
    }
    return await http.post("/webhooks/woocommerce", content=body, headers=headers)


def stripe_signature(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    return f"t={t},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


async def stripe(
    http: httpx.AsyncClient, data: dict[str, Any] | bytes, *, signature: str | None = None
) -> httpx.Response:
    body = encode(data)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": signature if signature is not None else stripe_signature(body),
    }
    return await http.post("/webhooks/stripe", content=body, headers=headers)


def standard_headers(
    body: bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    secret: str = WEBHOOK_SECRET,
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    t = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{t}.".encode() + body
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(t),
        "webhook-signature": "v1," + _b64_hmac(key, signed),
    }


async def generic(
    http: httpx.AsyncClient,
    data: dict[str, Any] | bytes,
    *,
    msg_id: str | None = None,
    **signing: Any,
) -> httpx.Response:
    body = encode(data)
    return await http.post(
        "/webhooks/orders", content=body, headers=standard_headers(body, msg_id=msg_id, **signing)
    )
