"""The four attribution rules of SPEC §6, the window's edge, late clicks and reattribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests import factories, platforms
from tests.test_cli import tracker
from tracker.config import Settings
from tracker.models import Click, Delivery, Link, Order
from tracker.orders import intake
from tracker.server.dispatch import TrackerApp

SPRING = {"utm_source": "instagram", "utm_medium": "social", "utm_campaign": "spring"}


def _order(order_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "amount": "30.00",
        "currency": "EUR",
        "occurred_at": at.isoformat(),
        "status": "paid",
        **fields,
    }


async def _orders(app: TrackerApp) -> dict[str, Order]:
    return {order.external_id: order for order in await factories.rows(app, Order)}


async def _clicked_at(app: TrackerApp, click_id: str) -> datetime:
    async with app.runtime.sessionmaker() as session:
        click = await session.get(Click, click_id)
        assert click is not None
        return click.clicked_at


class TestRules:
    async def test_click_within_the_window_and_not_beyond(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        link = await factories.create_link(api, slug="w")
        click_id = await factories.click(client, "w", app)
        at = await _clicked_at(app, click_id)
        window = timedelta(days=30)
        await platforms.generic(
            client, _order("in", at + window - timedelta(seconds=1), click_id=click_id)
        )
        await platforms.generic(client, _order("edge", at + window, click_id=click_id))
        await platforms.generic(
            client, _order("out", at + window + timedelta(seconds=1), click_id=click_id)
        )
        await platforms.generic(
            client, _order("before", at - timedelta(hours=1), click_id=click_id)
        )
        orders = await _orders(app)
        assert [orders[key].attribution for key in ("in", "edge", "out", "before")] == [
            "click",
            "click",
            "none",
            "none",
        ]
        assert orders["in"].attributed_click_id == click_id
        assert orders["out"].attributed_click_id is None and orders["out"].link_id is None
        assert orders["in"].link_id == (await factories.rows(app, Link))[0].id
        assert link["slug"] == "w"

    async def test_utm_tags_that_match_exactly_one_link(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="story", **SPRING, utm_content="story")
        await factories.create_link(api, slug="reel", **SPRING, utm_content="reel")
        await factories.create_link(
            api, slug="fb", utm_source="facebook", utm_medium="social", utm_campaign="spring"
        )
        now = datetime.now(UTC)
        base = "https://shop.example.com/p?utm_source={s}&utm_medium=social&utm_campaign=spring"
        await platforms.generic(client, _order("fb", now, landing_url=base.format(s="facebook")))
        await platforms.generic(
            client,
            _order("reel", now, landing_url=base.format(s="instagram") + "&utm_content=reel"),
        )
        await platforms.generic(
            client, _order("ambiguous", now, landing_url=base.format(s="instagram"))
        )
        await platforms.generic(
            client,
            _order("partial", now, landing_url="https://shop.example.com/?utm_source=facebook"),
        )
        await platforms.generic(
            client,
            _order(
                "unknown-click",
                now,
                click_id="no-such-click",
                landing_url=base.format(s="facebook"),
            ),
        )
        orders = await _orders(app)
        assert (orders["fb"].attribution, orders["reel"].attribution) == ("utm", "utm")
        assert orders["fb"].link_id != orders["reel"].link_id
        assert (orders["ambiguous"].attribution, orders["partial"].attribution) == ("none", "none")
        assert orders["unknown-click"].attribution == "utm"  # no usable click id: rule 2

    async def test_the_same_customer_inherits_the_link_within_the_window(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="c")
        click_id = await factories.click(client, "c", app)
        at = await _clicked_at(app, click_id)
        await platforms.generic(
            client,
            _order("first", at + timedelta(minutes=5), click_id=click_id, customer_id="cust-1"),
        )
        await platforms.generic(
            client, _order("repeat", at + timedelta(days=20), customer_id="cust-1")
        )
        await platforms.generic(
            client, _order("much-later", at + timedelta(days=40), customer_id="cust-1")
        )
        await platforms.generic(
            client, _order("stranger", at + timedelta(days=1), customer_id="cust-2")
        )
        await platforms.generic(client, _order("anonymous", at + timedelta(days=1)))
        orders = await _orders(app)
        assert orders["first"].attribution == "click"
        assert (orders["repeat"].attribution, orders["repeat"].link_id) == (
            "customer",
            orders["first"].link_id,
        )
        assert orders["repeat"].attributed_click_id is None
        # 40 days after the first order's click, but "repeat" (rule 3) does not pass its credit on.
        assert orders["much-later"].attribution == "none"
        assert (
            orders["stranger"].attribution == "none" and orders["anonymous"].attribution == "none"
        )


class TestLateClicks:
    async def test_an_order_naming_an_unwritten_click_is_credited_when_it_arrives(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="late")
        (link,) = await factories.rows(app, Link)
        now = datetime.now(UTC)
        await platforms.generic(client, _order("early", now, click_id="click-from-the-spool-0001"))
        (order,) = await factories.rows(app, Order)
        assert order.attribution == "none"
        app.runtime.journal.append(
            factories.click_record(
                "click-from-the-spool-0001",
                link.id,
                now - timedelta(minutes=3),
                user_agent=factories.IPHONE,
                visitor_hash="0" * 32,
            )
        )
        await factories.flush_clicks(app)
        (order,) = await factories.rows(app, Order)
        assert (order.attribution, order.attributed_click_id, order.link_id) == (
            "click",
            "click-from-the-spool-0001",
            link.id,
        )
        # Counted by the writer, which serves no metrics, and shown by the serving process.
        metrics = (await client.get("/metrics")).text
        assert "\ntracker_late_attributions_total 1.0\n" in metrics


class TestReattribution:
    async def test_a_wider_window_recomputed_from_the_stored_bodies(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp, settings: Settings
    ) -> None:
        await factories.create_link(api, slug="r")
        click_id = await factories.click(client, "r", app)
        at = await _clicked_at(app, click_id)
        await platforms.generic(client, _order("late", at + timedelta(days=45), click_id=click_id))
        (order,) = await factories.rows(app, Order)
        assert order.attribution == "none"
        wider = settings.model_copy(update={"attribution_window_days": 60})
        async with app.runtime.sessionmaker() as session, session.begin():
            assert await intake.reattribute(session, wider, None) == (1, 0)
        (order,) = await factories.rows(app, Order)
        assert (order.attribution, order.attributed_click_id) == ("click", click_id)
        assert await factories.count(app, Delivery) == 1

    async def test_the_command_line(
        self, client: httpx.AsyncClient, app: TrackerApp, settings: Settings
    ) -> None:
        await platforms.shopify(
            client, "orders/create", platforms.payload("shopify_order", total_price="-1")
        )
        await platforms.shopify(client, "orders/create", platforms.payload("shopify_order", id=77))
        failed = tracker("deliveries", "--failed", database_url=settings.database_url)
        assert failed.returncode == 0, failed.stderr
        (line,) = failed.stdout.splitlines()
        assert "FAILED: amount -1 is negative" in line and line.startswith("1\t")
        listed = tracker("deliveries", database_url=settings.database_url)
        assert len(listed.stdout.splitlines()) == 2
        again = tracker("deliveries", "--reprocess", "1", database_url=settings.database_url)
        assert again.returncode == 1 and "failed again" in again.stdout
        done = tracker("reattribute", "--since", "2020-01-01", database_url=settings.database_url)
        assert done.returncode == 0, done.stderr
        assert "reapplied 1 deliveries; 1 failed" in done.stdout
        missing = tracker("deliveries", "--reprocess", "999", database_url=settings.database_url)
        assert missing.returncode == 1 and "no delivery 999" in missing.stderr
