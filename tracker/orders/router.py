"""The order webhooks: `/webhooks/{shopify,woocommerce,stripe,orders}`.

Each request is verified on its raw body before anything is parsed, stored
and committed, and only then read into orders: a 2xx means the delivery is
durable. A platform delivery we cannot read is kept with its error and
answered 200, so the platform neither retries it for hours nor switches the
webhook off; `tracker deliveries --failed` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr, ValidationError

from tracker import metrics
from tracker.db.session import SessionDep
from tracker.errors import NotFound
from tracker.orders import generic, service, shopify, stripe, woocommerce
from tracker.orders.events import Envelope, InvalidSignature

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Verifier = Callable[[str, bytes, Mapping[str, str]], None]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`accepted`; a redelivery: `duplicate`; kept with its error: `failed`"},
    401: {"description": "missing or invalid signature; nothing stored"},
    404: {"description": "this endpoint's secret is not set"},
    413: {"description": "body over 1 MiB; nothing stored"},
}


def _secret(value: SecretStr | None) -> str:
    if value is None:
        raise NotFound("this webhook endpoint is off (its secret is not set)")
    return value.get_secret_value()


async def _intake(
    request: Request, session: SessionDep, platform: str, envelope: Envelope, body: bytes
) -> dict[str, str]:
    delivery_id = await service.store_delivery(session, platform, envelope, body)
    if delivery_id is None:
        metrics.WEBHOOKS.labels(platform, "duplicate").inc()
        return {"status": "duplicate"}
    await session.commit()  # durable before anything else may fail
    error = await service.process(session, delivery_id, request.app.state.settings)
    metrics.WEBHOOKS.labels(platform, "failed" if error else "accepted").inc()
    return {"status": "failed", "error": error} if error else {"status": "accepted"}


def _verified(platform: str, verify: Verifier, key: str, body: bytes, request: Request) -> None:
    try:
        verify(key, body, request.headers)
    except InvalidSignature:
        metrics.WEBHOOKS.labels(platform, "rejected").inc()
        raise


async def _platform(
    request: Request,
    session: SessionDep,
    platform: str,
    secret: SecretStr | None,
    verify: Verifier,
    envelope: Callable[[Mapping[str, str], bytes], Envelope],
) -> dict[str, str]:
    key = _secret(secret)
    body = await request.body()
    _verified(platform, verify, key, body, request)
    return await _intake(request, session, platform, envelope(request.headers, body), body)


@router.post("/shopify", responses=_RESPONSES)
async def shopify_webhook(request: Request, session: SessionDep) -> dict[str, str]:
    """Shopify orders/create, orders/paid, orders/updated, orders/cancelled and refunds/create."""
    settings = request.app.state.settings
    return await _platform(
        request, session, "shopify", settings.shopify_secret, shopify.verify, shopify.envelope
    )


@router.post("/woocommerce", responses=_RESPONSES)
async def woocommerce_webhook(request: Request, session: SessionDep) -> dict[str, str]:
    """WooCommerce order.created and order.updated (status and refunds included)."""
    settings = request.app.state.settings
    _secret(settings.woocommerce_secret)
    if woocommerce.is_ping(await request.body()):
        return {"status": "pong"}
    return await _platform(
        request,
        session,
        "woocommerce",
        settings.woocommerce_secret,
        woocommerce.verify,
        woocommerce.envelope,
    )


@router.post("/stripe", responses=_RESPONSES)
async def stripe_webhook(request: Request, session: SessionDep) -> dict[str, str]:
    """Stripe checkout.session.completed / async_payment_succeeded and charge.refunded."""
    settings = request.app.state.settings
    return await _platform(
        request, session, "stripe", settings.stripe_secret, stripe.verify, stripe.envelope
    )


@router.post(
    "/orders",
    responses={
        **_RESPONSES,
        400: {"description": "malformed JSON; nothing stored"},
        422: {"description": "a field is missing or wrong (named); nothing stored"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": generic.GenericOrder.model_json_schema()}},
        }
    },
)
async def generic_webhook(request: Request, session: SessionDep) -> dict[str, str]:
    """Orders from a custom shop, signed the Standard Webhooks way."""
    settings = request.app.state.settings
    key = _secret(settings.webhook_secret)
    body = await request.body()
    _verified("generic", generic.verify, key, body, request)
    try:
        order = generic.GenericOrder.model_validate_json(body)
    except ValidationError as exc:
        metrics.WEBHOOKS.labels("generic", "invalid").inc()
        raise RequestValidationError(exc.errors()) from exc
    return await _intake(
        request, session, "generic", generic.envelope(order, request.headers), body
    )
