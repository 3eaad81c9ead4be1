"""The four order webhooks over HTTP (SPEC §6): signatures, durable idempotent intake, shapes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from tests import factories, platforms
from tracker.config import Settings
from tracker.main import create_app
from tracker.models import Delivery, Order, Refund
from tracker.server.dispatch import TrackerApp

# In the process's own time, set by conftest's clock: no test here depends on when it runs.
pytestmark = pytest.mark.usefixtures("clock")

BIG = b'{"x": "' + b"y" * (1_048_576 + 10) + b'"}'


async def _stored(app: TrackerApp) -> tuple[int, int, int]:
    return (
        await factories.count(app, Delivery),
        await factories.count(app, Order),
        await factories.count(app, Refund),
    )


class TestSignatures:
    async def test_shopify_wrong_or_missing_signature_is_401(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        order = platforms.payload("shopify_order")
        assert (
            await platforms.shopify(client, "orders/create", order, secret="wrong")
        ).status_code == 401
        response = await client.post(
            "/webhooks/shopify", json=order, headers={"X-Shopify-Topic": "orders/create"}
        )
        assert response.status_code == 401
        assert await _stored(app) == (0, 0, 0)

    async def test_woocommerce_wrong_signature_is_401(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        order = platforms.payload("woocommerce_order")
        assert (
            await platforms.woocommerce(client, "order.created", order, secret="nope")
        ).status_code == 401
        assert await _stored(app) == (0, 0, 0)

    @pytest.mark.parametrize(
        "signature",
        [
            "",
            "t=abc,v1=def",
            "garbage",
            platforms.stripe_signature(b"{}"),  # signs another body
            platforms.stripe_signature(b"", secret="whsec_other"),
        ],
    )
    async def test_stripe_wrong_signature_is_401(
        self, client: httpx.AsyncClient, app: TrackerApp, signature: str
    ) -> None:
        response = await platforms.stripe(
            client, platforms.payload("stripe_checkout_session_completed"), signature=signature
        )
        assert response.status_code == 401
        assert await _stored(app) == (0, 0, 0)

    async def test_stripe_outside_the_five_minute_tolerance_is_401(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        body = platforms.encode(platforms.payload("stripe_checkout_session_completed"))
        stale = platforms.stripe_signature(body, timestamp=int(time.time()) - 301)
        assert (await platforms.stripe(client, body, signature=stale)).status_code == 401
        ahead = platforms.stripe_signature(body, timestamp=int(time.time()) + 600)
        assert (await platforms.stripe(client, body, signature=ahead)).status_code == 401
        soon = platforms.stripe_signature(body, timestamp=int(time.time()) + 200)
        assert (await platforms.stripe(client, body, signature=soon)).status_code == 200
        fresh = platforms.stripe_signature(body, timestamp=int(time.time()) - 200)
        assert (await platforms.stripe(client, body, signature=fresh)).status_code == 200

    async def test_standard_webhooks_wrong_or_stale_is_401(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        order = {
            "order_id": "A1",
            "amount": "10.00",
            "currency": "EUR",
            "occurred_at": "2026-11-20T10:00:00Z",
            "status": "paid",
        }
        body = platforms.encode(order)
        other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
        assert (await platforms.generic(client, body, secret=other)).status_code == 401
        assert (
            await platforms.generic(client, body, timestamp=int(time.time()) - 600)
        ).status_code == 401
        assert (await client.post("/webhooks/orders", content=body)).status_code == 401
        headers = platforms.standard_headers(body)
        headers["webhook-signature"] = "v1,!!!not-base64"
        assert (
            await client.post("/webhooks/orders", content=body, headers=headers)
        ).status_code == 401
        headers["webhook-signature"] = "malformed"
        assert (
            await client.post("/webhooks/orders", content=body, headers=headers)
        ).status_code == 401
        assert await _stored(app) == (0, 0, 0)

    @pytest.mark.parametrize(
        "path",
        ["/webhooks/shopify", "/webhooks/woocommerce", "/webhooks/stripe", "/webhooks/orders"],
    )
    async def test_a_body_over_one_mebibyte_is_413(
        self, client: httpx.AsyncClient, app: TrackerApp, path: str
    ) -> None:
        response = await client.post(
            path, content=BIG, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert await _stored(app) == (0, 0, 0)

    async def test_endpoints_without_a_secret_are_off(self, settings: Settings) -> None:
        off = create_app(
            settings.model_copy(
                update={
                    "shopify_secret": None,
                    "woocommerce_secret": None,
                    "stripe_secret": None,
                    "webhook_secret": None,
                }
            )
        )
        async with off.lifespan():
            transport = httpx.ASGITransport(app=off)
            async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
                for path in [
                    "/webhooks/shopify",
                    "/webhooks/woocommerce",
                    "/webhooks/stripe",
                    "/webhooks/orders",
                ]:
                    assert (await http.post(path, content=b"{}")).status_code == 404


class TestShopify:
    async def test_an_order_is_stored_with_its_click(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(
            api, slug="ig", utm_source="instagram", utm_medium="social", utm_campaign="spring-sale"
        )
        click_id = await factories.click(client, "ig", app)
        created = platforms.now()
        order = platforms.payload(
            "shopify_order",
            created_at=created,
            note_attributes=[{"name": "tclid", "value": click_id}],
        )
        response = await platforms.shopify(client, "orders/create", order)
        assert response.status_code == 200 and response.json() == {"status": "accepted"}
        (stored,) = await factories.rows(app, Order)
        assert (stored.platform, stored.shop, stored.external_id) == (
            "shopify",
            "mugs.myshopify.com",
            "5678901234567",
        )
        assert (stored.amount_minor, stored.currency, stored.status) == (4990, "EUR", "paid")
        assert stored.occurred_at.isoformat() == created
        assert (stored.attribution, stored.click_id, stored.attributed_click_id) == (
            "click",
            click_id,
            click_id,
        )
        assert stored.link_id is not None and not stored.is_test
        assert stored.customer_hash is not None and "7012345678901" not in stored.customer_hash
        (delivery,) = await factories.rows(app, Delivery)
        kept = json.loads(delivery.body)  # what attribution reads, without the buyer
        assert (kept["id"], kept["total_price"], kept["landing_site"]) == (
            order["id"], order["total_price"], order["landing_site"],
        )  # fmt: skip
        assert "browser_ip" not in kept and kept["email"].startswith("sha256:")
        assert delivery.topic == "orders/create"
        assert delivery.processed_at is not None and delivery.error is None

    @pytest.mark.parametrize(
        "landing",
        ["/products/mug?tclid={id}&x=1", "https://shop.example.com/products/mug?x=1&tclid={id}"],
    )
    async def test_the_click_id_from_the_landing_site(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp, landing: str
    ) -> None:
        await factories.create_link(api, slug="ls")
        click_id = await factories.click(client, "ls", app)
        order = platforms.payload(
            "shopify_order",
            created_at=platforms.now(),
            note_attributes=[],
            landing_site=landing.format(id=click_id),
        )
        await platforms.shopify(client, "orders/create", order)
        (stored,) = await factories.rows(app, Order)
        assert (stored.attribution, stored.attributed_click_id) == ("click", click_id)

    async def test_a_redelivery_changes_nothing(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        order = platforms.payload("shopify_order")
        first = await platforms.shopify(client, "orders/create", order, event_id="evt-1")
        again = await platforms.shopify(client, "orders/create", order, event_id="evt-1")
        assert first.json()["status"] == "accepted" and again.json() == {"status": "duplicate"}
        assert await _stored(app) == (1, 1, 0)

    async def test_one_order_through_several_topics_then_cancelled(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        order = platforms.payload("shopify_order", financial_status="pending")
        await platforms.shopify(client, "orders/create", order)
        await platforms.shopify(
            client,
            "orders/paid",
            {**order, "financial_status": "paid", "updated_at": "2026-11-20T15:05:00+01:00"},
        )
        await platforms.shopify(
            client,
            "orders/updated",
            {**order, "financial_status": "paid", "updated_at": "2026-11-20T15:05:00+01:00"},
        )
        (stored,) = await factories.rows(app, Order)
        assert stored.status == "paid"
        cancelled = {
            **order,
            "cancelled_at": "2026-11-20T16:00:00+01:00",
            "updated_at": "2026-11-20T16:00:00+01:00",
        }
        await platforms.shopify(client, "orders/cancelled", cancelled)
        # A late, older update does not undo the cancellation.
        await platforms.shopify(
            client,
            "orders/updated",
            {**order, "financial_status": "paid", "updated_at": "2026-11-20T15:30:00+01:00"},
        )
        (stored,) = await factories.rows(app, Order)
        assert stored.status == "cancelled"
        assert await _stored(app) == (5, 1, 0)

    async def test_two_partial_refunds_each_count_once(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await platforms.shopify(client, "orders/create", platforms.payload("shopify_order"))
        assert [order.has_refunds for order in await factories.rows(app, Order)] == [False]
        refund = platforms.payload("shopify_refund")
        second = platforms.payload("shopify_refund", id=929361465)
        second["transactions"][0]["amount"] = "5.50"
        await platforms.shopify(client, "refunds/create", refund)
        assert [order.has_refunds for order in await factories.rows(app, Order)] == [True]
        await platforms.shopify(client, "refunds/create", refund)  # a new event id, the same refund
        await platforms.shopify(client, "refunds/create", second)
        # orders/updated lists the same refunds again: still counted once.
        await platforms.shopify(
            client,
            "orders/updated",
            platforms.payload(
                "shopify_order", refunds=[refund, second], financial_status="partially_refunded"
            ),
        )
        refunds = await factories.rows(app, Refund)
        assert sorted(r.amount_minor for r in refunds) == [550, 1000]
        assert {r.order_external_id for r in refunds} == {"5678901234567"}
        assert {r.currency for r in refunds} == {"EUR"}

    async def test_a_refund_before_its_order_is_kept(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await platforms.shopify(client, "refunds/create", platforms.payload("shopify_refund"))
        assert await _stored(app) == (1, 0, 1)
        await platforms.shopify(client, "orders/create", platforms.payload("shopify_order"))
        (refund,) = await factories.rows(app, Refund)
        (order,) = await factories.rows(app, Order)
        assert (refund.order_external_id, refund.platform, refund.shop) == (
            order.external_id,
            order.platform,
            order.shop,
        )
        assert order.has_refunds

    async def test_test_orders_are_flagged(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await platforms.shopify(
            client, "orders/create", platforms.payload("shopify_order", test=True)
        )
        (stored,) = await factories.rows(app, Order)
        assert stored.is_test

    @pytest.mark.parametrize(
        ("topic", "changes", "error"),
        [
            ("orders/create", {"total_price": "-5.00"}, "negative"),
            ("orders/create", {"currency": "ZZZ"}, "unknown currency"),
            ("orders/create", {"id": None}, "id"),
            ("orders/create", {"total_price": "abc"}, "total_price"),
            ("orders/create", {"total_price": "1e30"}, "over the limit"),
            ("products/create", {}, "not one Tracker reads"),
        ],
    )
    async def test_a_signed_delivery_that_cannot_be_read_is_kept_and_answered_200(
        self,
        client: httpx.AsyncClient,
        app: TrackerApp,
        topic: str,
        changes: dict[str, Any],
        error: str,
    ) -> None:
        response = await platforms.shopify(
            client, topic, platforms.payload("shopify_order", **changes)
        )
        assert response.status_code == 200 and response.json()["status"] == "failed"
        (delivery,) = await factories.rows(app, Delivery)
        assert delivery.error is not None and error in delivery.error
        assert await factories.count(app, Order) == 0

    async def test_a_body_that_is_not_json_is_kept_as_failed(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        response = await platforms.shopify(client, "orders/create", b"\xff\xfenot json")
        assert response.status_code == 200 and response.json()["status"] == "failed"
        assert await _stored(app) == (1, 0, 0)


class TestWooCommerce:
    async def test_the_creation_ping_is_answered_and_not_stored(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        response = await client.post(
            "/webhooks/woocommerce",
            content=b"webhook_id=12",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert await _stored(app) == (0, 0, 0)

    async def test_order_with_meta_click_id_then_refunded(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="wc")
        click_id = await factories.click(client, "wc", app)
        created = platforms.now(naive=True)
        order = platforms.payload(
            "woocommerce_order",
            date_created_gmt=created,
            meta_data=[{"id": 1, "key": "_tclid", "value": click_id}],
        )
        assert (await platforms.woocommerce(client, "order.created", order)).json()[
            "status"
        ] == "accepted"
        (stored,) = await factories.rows(app, Order)
        assert (stored.shop, stored.external_id, stored.amount_minor, stored.currency) == (
            "https://totes.example",
            "727",
            3500,
            "USD",
        )
        assert (stored.status, stored.attribution, stored.attributed_click_id) == (
            "paid",
            "click",
            click_id,
        )
        assert stored.occurred_at.isoformat() == created + "+00:00"  # *_gmt fields are UTC
        refunded = {
            **order,
            "status": "refunded",
            "date_modified_gmt": "2026-11-22T08:00:00",
            "refunds": [
                {"id": 730, "reason": "", "total": "-20.00"},
                {"id": 731, "reason": "", "total": "-15.00"},
            ],
        }
        await platforms.woocommerce(client, "order.updated", refunded)
        await platforms.woocommerce(client, "order.updated", refunded)
        (stored,) = await factories.rows(app, Order)
        assert stored.status == "refunded"
        assert sorted(r.amount_minor for r in await factories.rows(app, Refund)) == [1500, 2000]

    async def test_the_key_without_underscore_and_cancellation(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="wc2")
        click_id = await factories.click(client, "wc2", app)
        order = platforms.payload(
            "woocommerce_order",
            status="cancelled",
            date_created_gmt=platforms.now(naive=True),
            meta_data=[{"id": 1, "key": "tclid", "value": click_id}],
        )
        await platforms.woocommerce(client, "order.updated", order)
        (stored,) = await factories.rows(app, Order)
        assert (stored.status, stored.attributed_click_id) == ("cancelled", click_id)


class TestStripe:
    async def test_a_checkout_session_in_yen_with_its_click(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="st")
        click_id = await factories.click(client, "st", app)
        event = platforms.payload("stripe_checkout_session_completed", created=int(time.time()))
        event["data"]["object"]["client_reference_id"] = click_id
        event["data"]["object"]["created"] = int(time.time())
        assert (await platforms.stripe(client, event)).json()["status"] == "accepted"
        (stored,) = await factories.rows(app, Order)
        assert (stored.external_id, stored.amount_minor, stored.currency, stored.status) == (
            "pi_3QExampleIntent",
            4500,
            "JPY",
            "paid",
        )
        assert (stored.attribution, stored.attributed_click_id, stored.is_test) == (
            "click",
            click_id,
            False,
        )
        (delivery,) = await factories.rows(app, Delivery)
        assert (
            delivery.event_id == "evt_1QExampleCheckout"
            and delivery.topic == "checkout.session.completed"
        )

    async def test_metadata_click_id_test_mode_and_async_payment(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="st2")
        click_id = await factories.click(client, "st2", app)
        event = platforms.payload("stripe_checkout_session_completed", livemode=False)
        session = event["data"]["object"]
        session.update(
            client_reference_id=None,
            metadata={"tclid": click_id},
            payment_status="unpaid",
            created=int(time.time()),
            currency="eur",
            amount_total=1999,
        )
        await platforms.stripe(client, event)
        (stored,) = await factories.rows(app, Order)
        assert (stored.status, stored.is_test, stored.amount_minor, stored.attributed_click_id) == (
            "pending",
            True,
            1999,
            click_id,
        )
        succeeded = platforms.payload(
            "stripe_checkout_session_completed",
            id="evt_async",
            type="checkout.session.async_payment_succeeded",
            livemode=False,
        )
        succeeded["data"]["object"] = {**session, "payment_status": "paid"}
        await platforms.stripe(client, succeeded)
        (stored,) = await factories.rows(app, Order)
        assert stored.status == "paid"

    async def test_charge_refunded_joins_through_the_payment_intent(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await platforms.stripe(client, platforms.payload("stripe_checkout_session_completed"))
        first = platforms.payload("stripe_charge_refunded")
        second = platforms.payload("stripe_charge_refunded", id="evt_3QExampleRefund2")
        second["data"]["object"]["amount_refunded"] = 2500
        await platforms.stripe(client, first)
        await platforms.stripe(client, second)
        await platforms.stripe(client, first)  # a redelivery of the first
        (refund,) = await factories.rows(app, Refund)
        assert (refund.order_external_id, refund.amount_minor, refund.currency) == (
            "pi_3QExampleIntent",
            2500,
            "JPY",
        )

    async def test_other_event_types_are_kept_as_unread(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        event = platforms.payload("stripe_charge_refunded", id="evt_other", type="customer.created")
        response = await platforms.stripe(client, event)
        assert response.status_code == 200 and response.json()["status"] == "failed"
        assert await _stored(app) == (1, 0, 0)


GOOD = {
    "order_id": "A-1",
    "amount": "25.50",
    "currency": "eur",
    "occurred_at": platforms.now(),
    "status": "paid",
    "customer_id": "c-9",
}


class TestGeneric:
    async def test_an_order_and_its_refund(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="gen")
        click_id = await factories.click(client, "gen", app)
        landing = f"https://shop.example.com/?tclid={click_id}"
        # Placed after the click: GOOD's time is taken at import, maybe minutes before it.
        good = {**GOOD, "occurred_at": platforms.now()}
        response = await platforms.generic(client, {**good, "landing_url": landing}, msg_id="msg_1")
        assert response.status_code == 200 and response.json() == {"status": "accepted"}
        assert (
            await platforms.generic(client, {**good, "landing_url": landing}, msg_id="msg_1")
        ).json() == {"status": "duplicate"}
        (stored,) = await factories.rows(app, Order)
        assert (stored.platform, stored.amount_minor, stored.currency) == ("generic", 2550, "EUR")
        assert stored.occurred_at.isoformat() == good["occurred_at"]
        assert (stored.attribution, stored.attributed_click_id) == ("click", click_id)
        await platforms.generic(client, {**good, "refunded_amount": "5.00"})
        await platforms.generic(client, {**good, "refunded_amount": "7.50"})
        (refund,) = await factories.rows(app, Refund)
        assert refund.amount_minor == 750
        await platforms.generic(client, {**good, "status": "refunded"})
        (refund,) = await factories.rows(app, Refund)
        assert refund.amount_minor == 2550

    async def test_malformed_json_is_400_and_stores_nothing(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        response = await platforms.generic(client, b'{"order_id": "A-1",')
        assert response.status_code == 400
        assert await _stored(app) == (0, 0, 0)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"amount": "-1.00"}, "amount"),
            ({"amount": "ten"}, "amount"),
            ({"amount": "NaN"}, "amount"),
            ({"currency": "ZZZ"}, "currency"),
            ({"status": "shipped"}, "status"),
            ({"order_id": None}, "order_id"),
            ({"occurred_at": "yesterday"}, "occurred_at"),
            ({"refunded_amount": "-2"}, "refunded_amount"),
            ({"extra_field": 1}, "extra_field"),
            ({"amount": "10.001"}, "more decimals"),
            ({"amount": "1e30"}, "over the limit"),
            ({"amount": "92233720368547758.07"}, "over the limit"),
        ],
    )
    async def test_a_wrong_shape_is_422_naming_the_field(
        self, client: httpx.AsyncClient, app: TrackerApp, changes: dict[str, Any], field: str
    ) -> None:
        response = await platforms.generic(client, {**GOOD, **changes})
        assert response.status_code == 422, response.text
        assert field in response.text
        assert await _stored(app) == (0, 0, 0)


class TestConcurrency:
    async def test_concurrent_duplicate_deliveries_make_one_order(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        order = platforms.payload("shopify_order")
        same_event = [
            platforms.shopify(client, "orders/create", order, event_id="evt-same")
            for _ in range(10)
        ]
        other_events = [platforms.shopify(client, "orders/updated", order) for _ in range(10)]
        responses = await asyncio.gather(*same_event, *other_events)
        assert all(response.status_code == 200 for response in responses), [
            r.text for r in responses
        ]
        statuses = [response.json()["status"] for response in responses[:10]]
        assert statuses.count("accepted") == 1 and statuses.count("duplicate") == 9
        assert await _stored(app) == (11, 1, 0)
