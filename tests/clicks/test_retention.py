"""Raw clicks kept TRACKER_CLICK_RETENTION_DAYS and no longer (SPEC §5); on PostgreSQL, by
dropping whole months. Rollups, orders and reports over old periods stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import time_machine
from sqlalchemy import text

from tests import factories, platforms
from tests.conftest import empty_database
from tests.dashboard.test_router import _sign_in
from tracker.clicks import retention
from tracker.config import Settings
from tracker.db.engine import EngineDatabase
from tracker.main import create_app
from tracker.models import Click, Link, Order
from tracker.server.dispatch import TrackerApp

DAYS = 40  # on 2026-11-20 (the clock fixture's day), raw clicks from 2026-10-11 on are kept
HORIZON = datetime(2026, 10, 11, tzinfo=UTC)
MOMENTS = {
    "june": datetime(2026, 6, 15, 9, tzinfo=UTC),  # a month wholly past retention
    "october-10": datetime(2026, 10, 10, 23, tzinfo=UTC),  # the horizon's month, before it
    "october-11": datetime(2026, 10, 11, 0, 30, tzinfo=UTC),
    "november": datetime(2026, 11, 19, 8, tzinfo=UTC),
}


@pytest.fixture
async def retaining(clock: time_machine.Traveller, settings: Settings) -> AsyncIterator[TrackerApp]:
    """An app that keeps raw clicks DAYS days (its writer prunes at start and hourly)."""
    application = create_app(settings.model_copy(update={"click_retention_days": DAYS}))
    async with application.lifespan():
        yield application


async def _shop(app: TrackerApp, api: httpx.AsyncClient) -> None:
    """A click at each moment (a referrer each), and an order from the June click."""
    await factories.create_link(api, slug="old", utm_source="ig")
    (link,) = await factories.rows(app, Link)
    for name, moment in MOMENTS.items():
        record = factories.click_record(
            f"click-{name}", link.id, moment, referrer=f"https://{name}.example/", is_bot=False
        )
        app.runtime.journal.append(record)
    await factories.flush_clicks(app)
    order = {"order_id": "june-order", "amount": "25.00", "currency": "EUR", "status": "paid",
             "occurred_at": "2026-06-15T10:00:00Z", "click_id": "click-june"}  # fmt: skip
    async with factories.api_client(app) as http:
        assert (await platforms.generic(http, order)).status_code == 200


async def _count(app: TrackerApp, query: str) -> int:
    async with app.runtime.engine.connect() as connection:
        return int((await connection.execute(text(query))).scalar_one() or 0)


class TestRetention:
    async def test_old_clicks_go_and_rollups_orders_and_reports_stay(
        self, clock: time_machine.Traveller, app: TrackerApp, api: httpx.AsyncClient,
        settings: Settings,
    ) -> None:  # fmt: skip
        # The shop is made by an app that keeps every click, so that the June order finds its
        # click: an app that keeps DAYS prunes when its writer starts, which on a slow machine
        # came between the June click and its order.
        await _shop(app, api)
        before = (await api.get("/api/stats", params=_WHOLE | {"group_by": "month"})).json()
        rollup_before = await _count(app, "SELECT sum(clicks) FROM click_days")
        elsewhere = {"click_retention_days": DAYS, "spool_dir": settings.spool_dir.parent / "b"}
        retaining = create_app(settings.model_copy(update=elsewhere))
        async with retaining.lifespan(), factories.api_client(retaining) as api:

            async def pruned() -> bool:  # by its writer, as it starts
                return await factories.count(retaining, Click) == 2

            await factories.eventually(pruned)

            clicks = await factories.rows(retaining, Click)
            assert sorted(click.id for click in clicks) == ["click-november", "click-october-11"]
            assert await _count(retaining, "SELECT sum(clicks) FROM click_days") == rollup_before
            (order,) = await factories.rows(retaining, Order)
            assert (order.attributed_click_id, order.attribution) == ("click-june", "click")

            # Reports over old periods answer from the rollup, as before.
            after = (await api.get("/api/stats", params=_WHOLE | {"group_by": "month"})).json()
            assert after["rows"] == before["rows"] and after["raw_clicks_from"] is None
            assert after["totals"]["clicks"] == 4 and after["totals"]["orders"] == 1
            # What needs raw clicks says from when it counts, instead of a silent zero.
            referrers = await api.get("/api/stats", params=_WHOLE | {"group_by": "referrer"})
            body = referrers.json()
            assert datetime.fromisoformat(body["raw_clicks_from"]) == HORIZON
            assert sum(row["clicks"] for row in body["rows"]) == 2
            recent = {"from": "2026-10-20", "to": "2026-11-20", "group_by": "referrer"}
            assert (await api.get("/api/stats", params=recent)).json()["raw_clicks_from"] is None

    async def test_the_dashboard_says_from_when_it_counts_raw_clicks(
        self, retaining: TrackerApp
    ) -> None:
        async with factories.api_client(retaining) as api:
            await _shop(retaining, api)
        transport = httpx.ASGITransport(app=retaining, client=("203.0.113.20", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as browser:
            key = await factories.create_api_key(retaining, "owner")
            assert (await _sign_in(browser, key)).status_code == 303
            old = {"period": "custom", "from": "2026-06-01", "to": "2026-11-19"}
            link_page = await browser.get("/dashboard/links/old", params=old | {"tz": "UTC"})
            assert "count the clicks from 2026-10-11 on" in link_page.text
            berlin = await browser.get("/dashboard", params=old | {"tz": "Europe/Berlin"})
            assert "Clicks are counted from 2026-10-11 on" in berlin.text
            utc = await browser.get("/dashboard", params=old | {"tz": "UTC"})
            assert "Clicks are counted from" not in utc.text  # the rollup's own zone

    async def test_the_writer_prunes_when_it_starts(
        self, clock: time_machine.Traveller, app: TrackerApp, api: httpx.AsyncClient,
        settings: Settings,
    ) -> None:  # fmt: skip
        await _shop(app, api)  # written by an app that keeps everything
        assert await factories.count(app, Click) == 4
        elsewhere = {"click_retention_days": DAYS, "spool_dir": settings.spool_dir.parent / "b"}
        async with create_app(settings.model_copy(update=elsewhere)).lifespan():

            async def pruned() -> bool:
                return await factories.count(app, Click) == 2

            await factories.eventually(pruned)

    async def test_postgresql_drops_whole_months_and_makes_them_as_clicks_arrive(
        self, clock: time_machine.Traveller, postgres_url: str, tmp_path: Path
    ) -> None:
        await empty_database(postgres_url)
        settings = Settings(
            _env_file=None, database_url=postgres_url, spool_dir=tmp_path,  # type: ignore[call-arg]
            click_writer="thread", click_flush_interval=0.05,
            webhook_secret=platforms.WEBHOOK_SECRET,
        )  # fmt: skip
        partitions = (
            "SELECT count(*) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid"
            " WHERE c.relname = '{}'"
        )
        app = create_app(settings)
        async with app.lifespan(), factories.api_client(app) as api:
            await _shop(app, api)  # June had no partition: the writer made it
            assert await _count(app, partitions.format("clicks_y2026m06")) == 1
            assert await retention.prune(EngineDatabase(app.runtime.engine), DAYS) == 2
            assert await _count(app, partitions.format("clicks_y2026m06")) == 0
            assert await _count(app, partitions.format("clicks_y2026m10")) == 1
            assert await _count(app, "SELECT count(*) FROM clicks_y2026m10") == 1
            # A late click of a dropped month (a journal replayed long after) finds a home.
            (link,) = await factories.rows(app, Link)
            late = factories.click_record("late", link.id, MOMENTS["june"], is_bot=False)
            app.runtime.journal.append(late)
            await factories.flush_clicks(app)
            assert await factories.count(app, Click) == 3
        await empty_database(postgres_url)


_WHOLE = {"from": "2026-06-01", "to": "2026-11-20", "tz": "UTC"}
