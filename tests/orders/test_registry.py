"""A fifth platform is one module's `Platform` and one registry line: nothing else changes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from tests import factories
from tracker import money
from tracker.config import Settings
from tracker.main import create_app
from tracker.models import Delivery, Order
from tracker.orders import registry
from tracker.orders.events import (
    Envelope,
    Facts,
    OrderFacts,
    PlatformModel,
    UnprocessableDelivery,
    body_digest,
    check_base64_hmac,
)
from tracker.orders.platform import Platform
from tracker.server.dispatch import TrackerApp

SECRET = "fake-shop-secret"


class _FakeOrder(PlatformModel):
    number: str
    total: str
    currency: str


def _parse(topic: str, body: bytes, click_id_param: str) -> list[Facts]:
    if topic != "sale":
        raise UnprocessableDelivery(f"topic {topic!r} is not one Tracker reads")
    order = _FakeOrder.model_validate_json(body)  # a ValidationError is the registry's to word
    return [
        OrderFacts(
            external_id=order.number,
            amount_minor=money.to_minor(Decimal(order.total), order.currency),
            currency=money.normalize_currency(order.currency),
            status="paid",
            occurred_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        )
    ]


def _verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    check_base64_hmac("FakeShop", secret, body, headers.get("x-fake-signature", ""))


def _envelope(headers: Mapping[str, str], body: bytes) -> Envelope:
    return Envelope(shop="fake.example", event_id=body_digest(body), topic="sale")


FAKE = Platform(
    name="fakeshop",
    path="/fakeshop",
    summary="A shop platform that only this test knows.",
    secret=lambda _settings: SecretStr(SECRET),
    verify=_verify,
    envelope=_envelope,
    parse=_parse,
)


def _signed(order: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(order).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    return body, {"X-Fake-Signature": signature.decode(), "Content-Type": "application/json"}


@pytest.fixture
async def fake_app(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TrackerApp]:
    monkeypatch.setitem(registry.PLATFORMS, FAKE.name, FAKE)
    application = create_app(settings)
    async with application.lifespan():
        yield application


class TestRegistry:
    async def test_a_registered_platform_gets_its_endpoint_intake_and_reprocessing(
        self, fake_app: TrackerApp
    ) -> None:
        transport = httpx.ASGITransport(app=fake_app, client=("203.0.113.9", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
            body, headers = _signed({"number": "F-1", "total": "12.50", "currency": "eur"})
            answer = await http.post("/webhooks/fakeshop", content=body, headers=headers)
            assert (answer.status_code, answer.json()) == (200, {"status": "accepted"})
            again = await http.post("/webhooks/fakeshop", content=body, headers=headers)
            assert again.json() == {"status": "duplicate"}

            forged = {**headers, "X-Fake-Signature": "AAAA"}
            refused = await http.post("/webhooks/fakeshop", content=body + b" ", headers=forged)
            assert refused.status_code == 401

            wrong, headers = _signed({"number": "F-2", "currency": "EUR"})
            kept = await http.post("/webhooks/fakeshop", content=wrong, headers=headers)
            assert kept.json() == {"status": "failed", "error": "total: Field required"}

            paths = (await http.get("/openapi.json")).json()["paths"]
            assert paths["/webhooks/fakeshop"]["post"]["description"] == FAKE.summary

        (order,) = await factories.rows(fake_app, Order)
        assert (order.platform, order.external_id, order.amount_minor, order.currency) == (
            "fakeshop",
            "F-1",
            1250,
            "EUR",
        )
        deliveries = await factories.rows(fake_app, Delivery)
        assert sorted(d.error or "" for d in deliveries) == ["", "total: Field required"]


def _broken(topic: str, body: bytes, click_id_param: str) -> list[Facts]:
    raise RuntimeError("a bug in a parser")


class TestUnexpectedErrors:
    async def test_a_bug_while_processing_keeps_the_delivery_failed_and_reprocessable(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        broken = dataclasses.replace(FAKE, name="brokenshop", path="/brokenshop", parse=_broken)
        monkeypatch.setitem(registry.PLATFORMS, broken.name, broken)
        application = create_app(settings)
        async with application.lifespan():
            transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 4242))
            async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
                body, headers = _signed({"number": "F-9", "total": "1.00", "currency": "EUR"})
                answer = await http.post("/webhooks/brokenshop", content=body, headers=headers)
            assert answer.status_code == 200
            assert answer.json() == {
                "status": "failed",
                "error": "unexpected error (RuntimeError); reprocess it once fixed",
            }
            (delivery,) = await factories.rows(application, Delivery)
            assert delivery.error is not None and delivery.processed_at is not None
