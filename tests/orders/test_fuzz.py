"""Signed garbage through every platform: never a 5xx, and nothing stored but the delivery."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories, platforms
from tracker.models import Order, Refund
from tracker.server.dispatch import TrackerApp

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIXTURES = {
    "shopify": "shopify_order",
    "woocommerce": "woocommerce_order",
    "stripe": "stripe_checkout_session_completed",
}
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def _mangled(draw: st.DrawFn, fixture: str) -> dict[str, Any]:
    """A real payload with one field anywhere in it replaced by any JSON value (or removed)."""
    payload = copy.deepcopy(platforms.payload(fixture))
    node: Any = payload
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return payload
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(JSON)
        return payload


async def _post(client: httpx.AsyncClient, platform: str, body: Any) -> httpx.Response:
    if platform == "shopify":
        return await platforms.shopify(client, "orders/create", body)
    if platform == "woocommerce":
        return await platforms.woocommerce(client, "order.created", body)
    return await platforms.stripe(client, body)


def _text(body: Any) -> bool:
    if not isinstance(body, bytes):
        return True
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _answered(platform: str, body: Any) -> int:
    """200 for every signed delivery, but where the platform's library verifies text: a body
    that is not UTF-8 fails Stripe's and Standard Webhooks' checks (401, nothing stored)."""
    return 401 if platform == "stripe" and not _text(body) else 200


class TestSignedGarbage:
    @FUZZ
    @given(data=st.data())
    async def test_every_platform_answers_200_whatever_the_signed_body(
        self, client: httpx.AsyncClient, app: TrackerApp, data: st.DataObject
    ) -> None:
        for platform, fixture in FIXTURES.items():
            body = data.draw(_mangled(fixture) | JSON | st.binary(max_size=64), label=platform)
            answer = await _post(client, platform, body)
            assert answer.status_code == _answered(platform, body), (platform, answer.text)
            if answer.status_code == 200:
                assert answer.json()["status"] in ("accepted", "failed", "duplicate")

    @FUZZ
    @given(body=JSON | st.binary(max_size=64))
    async def test_pure_garbage_stores_the_delivery_and_nothing_else(
        self, client: httpx.AsyncClient, app: TrackerApp, body: Any
    ) -> None:
        for platform in FIXTURES:
            answer = await _post(client, platform, body)
            assert answer.status_code == _answered(platform, body), (platform, answer.text)
            if answer.status_code == 200:
                assert answer.json()["status"] != "accepted"
        generic = await platforms.generic(client, body)
        assert generic.status_code in ((400, 422) if _text(body) else (401,)), generic.text
        assert await factories.rows(app, Order) == []
        assert await factories.rows(app, Refund) == []
