"""No IP address, e-mail, name, address or phone number is stored, webhook bodies included."""

from __future__ import annotations

import ipaddress
import json
import re

import httpx
import pytest
from sqlalchemy import select

from tests import factories, platforms
from tracker.db.types import Base
from tracker.models import Order
from tracker.orders import privacy
from tracker.server.dispatch import TrackerApp

# What the fixtures carry about their buyers; none of it may reach the database.
PERSONAL = ("Jo Example", "Harbour Street", "20095", "+49", "Sam Example", "Market Street",
            "LS1 1AA", "Aki Example", "100-0001", "Example GmbH", "jo.private")  # fmt: skip
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def _addresses(text: str) -> list[str]:
    found = []
    for candidate in IPV4.findall(text):
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            continue
        found.append(candidate)
    return found


class TestScrub:
    def test_people_go_and_what_attribution_reads_stays(self) -> None:
        order = platforms.payload("shopify_order")
        kept = json.loads(privacy.scrub(platforms.encode(order)))
        assert "browser_ip" not in json.dumps(kept) and "billing_address" not in kept
        assert "first_name" not in kept["customer"] and "phone" not in kept["customer"]
        assert kept["customer"]["id"] == order["customer"]["id"]
        assert kept["email"] == privacy.email_token("jo@example.com")
        assert kept["note_attributes"] == order["note_attributes"]  # a "name" that is no one's
        assert kept["line_items"][0]["name"] == order["line_items"][0]["name"]
        assert (kept["total_price"], kept["currency"]) == (order["total_price"], "EUR")
        assert kept["note"] == "Please ring twice, or mail " + privacy.email_token(
            "jo.private@example.com"
        )

    @pytest.mark.parametrize(
        ("value", "kept"),
        [
            ("from 203.0.113.9 via proxy", "from [ip removed] via proxy"),
            ("2001:db8::7 called", "[ip removed] called"),
            ("WooCommerce 9.4.1", "WooCommerce 9.4.1"),
            ("at 12:30:45", "at 12:30:45"),
            ("999.1.1.1", "999.1.1.1"),
        ],
    )
    def test_addresses_inside_any_text_are_removed(self, value: str, kept: str) -> None:
        assert json.loads(privacy.scrub(json.dumps({"memo": value}).encode())) == {"memo": kept}

    def test_a_body_that_is_not_json_is_not_kept(self) -> None:
        assert privacy.scrub(b"email=jo@example.com&ip=203.0.113.9") == privacy.NOT_KEPT


class TestNothingPersonalIsStored:
    async def test_after_every_platforms_deliveries_the_database_holds_no_one(
        self, client: httpx.AsyncClient, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="p")
        click_id = await factories.click(client, "p", app)
        shopify = platforms.payload("shopify_order")
        shopify["note_attributes"] = [{"name": "tclid", "value": click_id}]
        await platforms.shopify(client, "orders/create", shopify)
        await platforms.shopify(client, "refunds/create", platforms.payload("shopify_refund"))
        await platforms.woocommerce(client, "order.created", platforms.payload("woocommerce_order"))
        await platforms.stripe(client, platforms.payload("stripe_checkout_session_completed"))
        await platforms.stripe(client, platforms.payload("stripe_charge_refunded"))
        generic = {
            "order_id": "G-1", "amount": "10.00", "currency": "EUR", "status": "paid",
            "occurred_at": "2026-11-20T12:00:00Z", "customer_id": "cust-9",
        }  # fmt: skip
        assert (await platforms.generic(client, generic)).json() == {"status": "accepted"}
        assert len(await factories.rows(app, Order)) == 4

        text = []
        async with app.runtime.sessionmaker() as session:
            for table in Base.metadata.sorted_tables:
                for row in await session.execute(select(table)):
                    for value in row:
                        if isinstance(value, bytes):
                            text.append(value.decode("utf-8", "replace"))
                        elif isinstance(value, str):
                            text.append(value)
        stored = "\n".join(text)
        assert EMAIL.findall(stored) == []
        assert _addresses(stored) == []
        assert [word for word in PERSONAL if word in stored] == []
