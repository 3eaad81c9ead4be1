"""The order webhooks: one `POST /webhooks/<path>` for each registered platform (registry.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request

from tracker.db.session import SessionDep, SettingsDep
from tracker.orders import intake
from tracker.orders.intake import Receipt
from tracker.orders.platform import Platform

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`accepted`; a redelivery: `duplicate`; kept with its error: `failed`"},
    401: {"description": "missing or invalid signature; nothing stored"},
    404: {"description": "this endpoint's secret is not set"},
    413: {"description": "body over 1 MiB; nothing stored"},
    503: {"description": "the database is unavailable; nothing stored, retry after Retry-After"},
}
_SHAPE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed JSON; nothing stored"},
    422: {"description": "a field is missing or wrong (named); nothing stored"},
}


def _endpoint(platform: Platform) -> Callable[..., Awaitable[Receipt]]:
    async def webhook(request: Request, session: SessionDep, settings: SettingsDep) -> Receipt:
        return await intake.receive(
            session, platform, request.headers, await request.body(), settings
        )

    webhook.__name__ = f"{platform.name}_webhook"
    webhook.__doc__ = platform.summary
    return webhook


def webhooks_router(platforms: Iterable[Platform]) -> APIRouter:
    """The routes of ``platforms``: the body is read raw, since the signature covers its bytes."""
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])
    for platform in platforms:
        model = platform.body_model
        router.add_api_route(
            platform.path,
            _endpoint(platform),
            methods=["POST"],
            response_model=Receipt,
            response_model_exclude_none=True,
            responses={**_RESPONSES, **(_SHAPE_RESPONSES if model else {})},
            openapi_extra=None
            if model is None
            else {
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": model.model_json_schema()}},
                }
            },
        )
    return router
