"""The reports of SPEC §7 and §8 over a dataset made through the public API and webhooks.

Every expected figure below is worked out by hand from the dataset in `shop`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine

from tests import factories, platforms
from tests.conftest import NOON
from tracker.db.engine import dialect_of
from tracker.models import Click, Link
from tracker.reports import service
from tracker.reports.queries import Dimension, Scope
from tracker.reports.schemas import Report
from tracker.server.dispatch import TrackerApp

# Every test here starts at noon UTC of 2026-11-20 (conftest's clock), before its app does.
pytestmark = pytest.mark.usefixtures("clock")

CHROME = factories.DESKTOP_CHROME
IPHONE = factories.IPHONE
BOT = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


@dataclass
class Shop:
    today: date
    params: dict[str, str]


async def _visit(
    app: TrackerApp, slug: str, ip: str, agent: str, referrer: str | None, country: str | None
) -> str:
    transport = httpx.ASGITransport(app=app, client=(ip, 5000))
    headers = {
        "User-Agent": agent,
        **factories.BROWSER_HEADERS,
        **({"Referer": referrer} if referrer else {}),
        **({"CF-IPCountry": country} if country else {}),
    }
    async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
        response = await http.get(f"/{slug}", headers=headers)
    return response.headers["location"].split("tclid=")[1]


async def _clicked_at(app: TrackerApp, click_id: str) -> datetime:
    await factories.flush_clicks(app)
    async with app.runtime.sessionmaker() as session:
        click = await session.get(Click, click_id)
        assert click is not None
        return click.clicked_at


async def _order(
    client: httpx.AsyncClient,
    order_id: str,
    at: datetime,
    amount: str,
    currency: str,
    **fields: Any,
) -> None:
    body = {
        "order_id": order_id,
        "amount": amount,
        "currency": currency,
        "occurred_at": at.isoformat(),
        "status": "paid",
        **fields,
    }
    response = await platforms.generic(client, body)
    assert response.json() == {"status": "accepted"}, response.text


@pytest.fixture
async def shop(app: TrackerApp, api: httpx.AsyncClient, client: httpx.AsyncClient) -> Shop:
    """Clicks, orders (up to 20 minutes after their clicks) and spend, all on one UTC day."""
    await factories.create_link(
        api,
        slug="ig-story",
        utm_source="instagram",
        utm_medium="social",
        utm_campaign="spring",
        utm_content="story",
        tags=["mugs", "spring"],
    )
    await factories.create_link(
        api,
        slug="fb-post",
        utm_source="facebook",
        utm_medium="social",
        utm_campaign="spring",
        tags=["mugs"],
    )
    await factories.create_link(
        api, slug="newsletter", utm_source="newsletter", utm_medium="email", utm_campaign="autumn"
    )

    ig = "https://l.instagram.com/?u=x"
    a1 = await _visit(app, "ig-story", "198.51.100.1", IPHONE, ig, "DE")
    a2 = await _visit(app, "ig-story", "198.51.100.1", IPHONE, ig, "DE")  # the same visitor again
    await _visit(app, "ig-story", "198.51.100.2", IPHONE, ig, "AT")
    await _visit(app, "ig-story", "198.51.100.9", BOT, None, "US")  # a link preview
    b1 = await _visit(app, "fb-post", "198.51.100.3", CHROME, "https://www.facebook.com/", "US")
    b2 = await _visit(app, "fb-post", "198.51.100.4", CHROME, "https://www.facebook.com/", "US")
    c1 = await _visit(app, "newsletter", "198.51.100.5", CHROME, None, None)

    t = {click: await _clicked_at(app, click) for click in (a1, a2, b1, b2, c1)}
    await _order(client, "O1", t[a1] + timedelta(seconds=600), "50.00", "EUR", click_id=a1)
    await _order(
        client,
        "O2",
        t[a2] + timedelta(seconds=1200),
        "30.00",
        "EUR",
        click_id=a2,
        refunded_amount="10.00",
    )
    await _order(client, "O3", t[b1] + timedelta(seconds=300), "20.00", "USD", click_id=b1)
    await _order(client, "O4", t[c1] + timedelta(seconds=60), "1000", "JPY", click_id=c1)
    await _order(
        client, "O5", t[b2] + timedelta(seconds=60), "99.00", "EUR", click_id=b2, status="cancelled"
    )
    await _order(client, "O6", t[c1] + timedelta(seconds=90), "15.00", "EUR")  # unattributed
    await platforms.shopify(
        client,
        "orders/create",
        platforms.payload("shopify_order", created_at=platforms.now(), test=True),
    )

    today = datetime.now(UTC).date()
    for spend in (
        {"link": "ig-story", "amount": "20.00", "currency": "EUR", "impressions": 1000},
        {"utm_campaign": "spring", "amount": "10.00", "currency": "EUR", "impressions": 500},
        {"link": "newsletter", "amount": "500", "currency": "JPY", "impressions": 100},
    ):
        response = await api.post("/api/spend", json={"date": today.isoformat(), **spend})
        assert response.status_code == 201, response.text
    return Shop(today, _around(today))


def _around(today: date) -> dict[str, str]:
    """A report window from yesterday to tomorrow: orders placed after their clicks fall in it."""
    return {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }


async def _stats(api: httpx.AsyncClient, shop: Shop, **params: str) -> dict[str, Any]:
    response = await api.get("/api/stats", params={**shop.params, **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _rows(data: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {row["key"]: row for row in data["rows"]}


def _scope(app: TrackerApp, shop: Shop, group_by: Dimension | None, **more: Any) -> Scope:
    """A report of the shop's period, as the service is asked it (``more``: tz, details,
    limit, filters)."""
    return service.scope_for(
        app.runtime.settings,
        dialect=dialect_of(app.runtime.engine),
        start=shop.params["from"],
        end=shop.params["to"],
        tz=more.pop("tz", "UTC"),
        group_by=group_by,
        **more,
    )


class TestTotals:
    async def test_every_metric(self, api: httpx.AsyncClient, shop: Shop) -> None:
        data = await _stats(api, shop)
        assert data["rows"] == []
        assert data["totals"] == {
            "clicks": 6,
            "bot_clicks": 1,
            "unique_visitors": 5,
            "orders": 5,  # O5 cancelled, the Shopify test order left out
            "conversion_rate": 0.833333,
            "revenue": {"EUR": "95.00", "JPY": "1000", "USD": "20.00"},
            "refunds": {"EUR": "10.00"},
            "net_revenue": {"EUR": "85.00", "JPY": "1000", "USD": "20.00"},
            "average_order_value": {"EUR": "31.67", "JPY": "1000", "USD": "20.00"},
            "revenue_per_click": {"EUR": "14.1667", "JPY": "166.67", "USD": "3.3333"},
            "median_time_to_order_s": 450.0,  # of 600, 1200, 300, 60
            "impressions": 1600,
            "cost": {"EUR": "30.00", "JPY": "500"},
            "ctr": 0.00375,
            "roas": {"EUR": 2.833333, "JPY": 2.0},
            "roi": {"EUR": 1.833333, "JPY": 1.0},
        }

    async def test_test_orders_count_when_accepted(
        self, api: httpx.AsyncClient, app: TrackerApp, shop: Shop
    ) -> None:
        accepting = app.runtime.settings.model_copy(update={"accept_test_orders": True})
        app.api.state.settings = accepting  # what the API's SettingsDep reads
        data = await _stats(api, shop)
        assert data["totals"]["orders"] == 6
        assert data["totals"]["revenue"]["EUR"] == "144.90"


class TestGroupBy:
    async def test_link_with_the_unattributed_row(self, api: httpx.AsyncClient, shop: Shop) -> None:
        data = await _stats(api, shop, group_by="link")
        assert [row["key"] for row in data["rows"]] == ["ig-story", None, "fb-post", "newsletter"]
        rows = _rows(data)
        story = rows["ig-story"]
        assert (
            story["clicks"],
            story["bot_clicks"],
            story["unique_visitors"],
            story["orders"],
        ) == (3, 1, 2, 2)
        assert (story["revenue"], story["refunds"], story["net_revenue"]) == (
            {"EUR": "80.00"},
            {"EUR": "10.00"},
            {"EUR": "70.00"},
        )
        assert (story["cost"], story["impressions"], story["ctr"]) == (
            {"EUR": "20.00"},
            1000,
            0.003,
        )
        assert (story["roas"], story["roi"], story["median_time_to_order_s"]) == (
            {"EUR": 3.5},
            {"EUR": 2.5},
            900.0,
        )
        assert story["conversion_rate"] == 0.666667
        assert (rows[None]["orders"], rows[None]["revenue"], rows[None]["clicks"]) == (
            1,
            {"EUR": "15.00"},
            0,
        )
        assert rows[None]["conversion_rate"] is None and rows[None]["revenue_per_click"] == {}
        assert (rows["fb-post"]["orders"], rows["fb-post"]["revenue"]) == (1, {"USD": "20.00"})
        assert rows["newsletter"]["roas"] == {"JPY": 2.0}

    async def test_utm_dimensions(self, api: httpx.AsyncClient, shop: Shop) -> None:
        campaigns = _rows(await _stats(api, shop, group_by="utm_campaign"))
        spring = campaigns["spring"]
        assert (spring["clicks"], spring["orders"], spring["revenue"]) == (
            5,
            3,
            {"EUR": "80.00", "USD": "20.00"},
        )
        assert (spring["cost"], spring["impressions"]) == (
            {"EUR": "30.00"},
            1500,
        )  # link + campaign-wide spend
        assert campaigns["autumn"]["cost"] == {"JPY": "500"}
        assert campaigns[None]["orders"] == 1
        sources = _rows(await _stats(api, shop, group_by="utm_source"))
        assert set(sources) == {"instagram", "facebook", "newsletter", None}
        assert sources["instagram"]["cost"] == {
            "EUR": "20.00"
        }  # campaign-wide spend is not split by source
        mediums = _rows(await _stats(api, shop, group_by="utm_medium"))
        assert (mediums["social"]["clicks"], mediums["email"]["clicks"]) == (5, 1)
        contents = _rows(await _stats(api, shop, group_by="utm_content"))
        assert contents["story"]["clicks"] == 3 and contents[None]["clicks"] == 3
        terms = _rows(await _stats(api, shop, group_by="utm_term"))
        assert terms[None]["clicks"] == 6 and terms[None]["orders"] == 5

    async def test_tag(self, api: httpx.AsyncClient, shop: Shop) -> None:
        rows = _rows(await _stats(api, shop, group_by="tag"))
        assert (rows["mugs"]["clicks"], rows["mugs"]["orders"]) == (5, 3)
        assert (rows["spring"]["clicks"], rows["spring"]["net_revenue"]) == (3, {"EUR": "70.00"})
        assert (rows[None]["clicks"], rows[None]["orders"]) == (
            1,
            2,
        )  # the untagged newsletter and O6

    async def test_click_dimensions(self, api: httpx.AsyncClient, shop: Shop) -> None:
        referrers = _rows(await _stats(api, shop, group_by="referrer"))
        assert (referrers["l.instagram.com"]["clicks"], referrers["l.instagram.com"]["orders"]) == (
            3,
            2,
        )
        assert (
            referrers["www.facebook.com"]["clicks"],
            referrers["www.facebook.com"]["orders"],
        ) == (2, 1)
        assert (
            referrers[None]["clicks"],
            referrers[None]["bot_clicks"],
            referrers[None]["orders"],
        ) == (1, 1, 2)
        assert referrers[None]["cost"] == {}  # spend is not split by referrer
        devices = _rows(await _stats(api, shop, group_by="device"))
        assert {key: row["clicks"] for key, row in devices.items()} == {
            "mobile": 3,
            "desktop": 3,
            "bot": 0,
            None: 0,
        }
        assert devices["bot"]["bot_clicks"] == 1
        browsers = _rows(await _stats(api, shop, group_by="browser"))
        assert (browsers["Mobile Safari"]["clicks"], browsers["Chrome"]["clicks"]) == (3, 3)
        systems = _rows(await _stats(api, shop, group_by="os"))
        assert (systems["iOS"]["orders"], systems["Windows"]["orders"]) == (2, 2)
        countries = _rows(await _stats(api, shop, group_by="country"))
        assert {k: r["clicks"] for k, r in countries.items() if r["clicks"]} == {
            "DE": 2,
            "AT": 1,
            "US": 2,
            None: 1,
        }
        assert countries["DE"]["unique_visitors"] == 1

    async def test_time_dimensions(self, api: httpx.AsyncClient, shop: Shop) -> None:
        today = shop.today
        days = await _stats(api, shop, group_by="day")
        assert [row["key"] for row in days["rows"]] == [today.isoformat()]
        assert days["rows"][0]["clicks"] == 6 and days["rows"][0]["cost"] == {
            "EUR": "30.00",
            "JPY": "500",
        }
        weeks = await _stats(api, shop, group_by="week")
        assert [row["key"] for row in weeks["rows"]] == [
            (today - timedelta(days=today.weekday())).isoformat()
        ]
        months = await _stats(api, shop, group_by="month")
        assert [row["key"] for row in months["rows"]] == [today.strftime("%Y-%m")]
        assert months["rows"][0]["orders"] == 5


class TestTotalsWhateverTheRows:
    async def test_every_group_by_has_the_same_totals(
        self, api: httpx.AsyncClient, shop: Shop
    ) -> None:
        expected = (await _stats(api, shop))["totals"]
        for dimension in (
            "link",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "tag",
            "day",
            "week",
            "month",
            "referrer",
            "device",
            "browser",
            "os",
            "country",
        ):
            assert (await _stats(api, shop, group_by=dimension))["totals"] == expected, dimension

    async def test_spend_totals_summed_from_campaign_and_time_rows(
        self, api: httpx.AsyncClient, shop: Shop
    ) -> None:
        """Rows by campaign or time hold every spend row once, so their totals add the rows'
        spend up instead of reading it again: the same as the ungrouped report's, with spend
        on a campaign no link is in and on a link of no campaign, filtered or not."""
        await factories.create_link(api, slug="plain", utm_source="instagram")
        for spend in (
            {"utm_campaign": "winter", "amount": "7.50", "currency": "EUR", "impressions": 40},
            {"link": "plain", "amount": "3.00", "currency": "USD"},
        ):
            response = await api.post("/api/spend", json={"date": shop.today.isoformat(), **spend})
            assert response.status_code == 201, response.text
        for filters in ({}, {"utm_campaign": "spring"}, {"utm_source": "instagram"}):
            expected = (await _stats(api, shop, **filters))["totals"]
            for dimension in ("utm_campaign", "day", "week", "month"):
                totals = (await _stats(api, shop, group_by=dimension, **filters))["totals"]
                assert totals == expected, (dimension, filters)
        every = (await _stats(api, shop))["totals"]
        assert (every["cost"], every["impressions"]) == (
            {"EUR": "37.50", "JPY": "500", "USD": "3.00"},
            1640,
        )


class TestReportsAskedAtOnce:
    async def test_answer_as_each_asked_alone(self, app: TrackerApp, shop: Shop) -> None:
        """A page's reports share reads: by link, source, medium, campaign, content and term
        they are filed from one pass by link. Each the same as when asked alone, to the
        cent and the millisecond: currencies, a refund, an order no link claims, links
        without a content or a term, a campaign filter beside none."""
        dimensions = (
            "link", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
            "tag", "day", "referrer", None,
        )  # fmt: skip
        scopes = [
            _scope(app, shop, dimension, utm_campaign=campaign)  # type: ignore[arg-type]
            for campaign in (None, "spring")
            for dimension in dimensions
        ]
        together = await service.reports(app.runtime.readers, scopes)
        alone = [await service.report(app.runtime.readers, scope) for scope in scopes]
        assert together == alone
        by_campaign = {row.key: row for row in together[3].rows}
        assert by_campaign["spring"].refunds == {"EUR": "10.00"}
        assert by_campaign["spring"].median_time_to_order_s is not None
        assert by_campaign[None].revenue == {"EUR": "15.00"}  # the order no link claims

    async def test_without_details_every_other_figure_stands(
        self, app: TrackerApp, shop: Shop
    ) -> None:
        """The dashboard reads neither gaps nor distinct visitors (it shows no median time to
        order and no unique visitors): every figure it does show is what the API answers, on
        both paths of the orders pass (links joined or not) and of the clicks (rollup, raw)."""

        def undetailed(report: Report) -> Report:
            unknown = {"median_time_to_order_s": None, "unique_visitors": 0}
            rows = [row.model_copy(update=unknown) for row in report.rows]
            totals = report.totals.model_copy(update=unknown)
            return report.model_copy(update={"rows": rows, "totals": totals})

        dimensions: list[Dimension | None] = [
            "link", "utm_campaign", "day", "week", "month", "referrer", "device", None,
        ]  # fmt: skip
        for tz in ("UTC", "Europe/Berlin"):  # Berlin: raw clicks for every grouping
            for campaign in (None, "spring"):
                for dimension in dimensions:
                    asked = {"tz": tz, "utm_campaign": campaign}
                    full = await service.report(
                        app.runtime.readers, _scope(app, shop, dimension, **asked)
                    )
                    light = await service.report(
                        app.runtime.readers, _scope(app, shop, dimension, details=False, **asked)
                    )
                    assert light == undetailed(full), (dimension, campaign, tz)
                    assert full.totals.median_time_to_order_s is not None
                    assert full.totals.unique_visitors

    async def test_reports_by_click_columns_filed_from_one_pass(
        self, app: TrackerApp, shop: Shop
    ) -> None:
        """A link page's referrers, devices and countries, without unique visitors, are read
        once by all of them together and filed under each: each the same as asked alone,
        the orders (joined to their clicks) and the refunds too."""
        columns: list[Dimension] = ["referrer", "device", "browser", "os", "country"]
        for link in (None, "ig-story"):
            scopes = [_scope(app, shop, column, details=False, link=link) for column in columns]
            together = await service.reports(app.runtime.readers, scopes)
            alone = [await service.report(app.runtime.readers, scope) for scope in scopes]
            assert together == alone, link
            assert together[0].totals.orders and together[0].totals.refunds == {"EUR": "10.00"}
            assert len({row.key for row in together[1].rows}) > 1  # devices apart

    async def test_a_limited_report_is_the_head_of_the_whole_one(
        self, app: TrackerApp, shop: Shop
    ) -> None:
        """The overview's top links: the first rows of the report, in its order, and the row
        of no link wherever it ranks; the totals those of every row. Asked beside reports it
        shares its reads with, and alone."""

        whole = await service.report(app.runtime.readers, _scope(app, shop, "link"))
        nobody = next(n for n, row in enumerate(whole.rows) if row.key is None)
        assert nobody > 0  # the order no link claims ranks below a link
        for limit in (0, nobody, nobody + 1, len(whole.rows)):
            head, _campaigns = await service.reports(
                app.runtime.readers,
                [_scope(app, shop, "link", limit=limit), _scope(app, shop, "utm_campaign")],
            )
            alone = await service.report(
                app.runtime.readers, _scope(app, shop, "link", limit=limit)
            )
            expected = whole.rows[:limit] + [r for r in whole.rows[limit:] if r.key is None]
            assert head.rows == alone.rows == expected, limit
            assert head.totals == alone.totals == whole.totals


class TestFilters:
    async def test_filters_narrow_every_family(self, api: httpx.AsyncClient, shop: Shop) -> None:
        spring = (await _stats(api, shop, utm_campaign="spring"))["totals"]
        assert (spring["clicks"], spring["orders"], spring["cost"]) == (5, 3, {"EUR": "30.00"})
        story = (await _stats(api, shop, link="ig-story"))["totals"]
        assert (story["clicks"], story["orders"], story["cost"]) == (3, 2, {"EUR": "20.00"})
        facebook = (await _stats(api, shop, utm_source="facebook", utm_medium="social"))["totals"]
        assert (facebook["clicks"], facebook["orders"], facebook["cost"]) == (2, 1, {})
        mugs = (await _stats(api, shop, tag="mugs"))["totals"]
        assert (mugs["clicks"], mugs["orders"], mugs["cost"]) == (5, 3, {"EUR": "20.00"})
        nothing = (await _stats(api, shop, utm_campaign="winter"))["totals"]
        assert (nothing["clicks"], nothing["orders"], nothing["revenue"]) == (0, 0, {})

    async def test_a_tag_filter_by_tag(self, api: httpx.AsyncClient, shop: Shop) -> None:
        """The links tagged "mugs", by each of their tags: the filter's tag in every family
        of the rows (this once answered 500: the tag filter and the tag rows are the same
        table, and the filter's subquery lost it to the rows' join)."""
        rows = _rows(await _stats(api, shop, tag="mugs", group_by="tag"))
        assert set(rows) == {"mugs", "spring"}
        assert (rows["mugs"]["clicks"], rows["mugs"]["orders"], rows["mugs"]["cost"]) == (
            5,
            3,
            {"EUR": "20.00"},
        )
        assert (rows["spring"]["clicks"], rows["spring"]["orders"]) == (3, 2)


class TestRefunds:
    async def test_a_refund_counts_whether_it_came_before_or_after_its_order(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        now = platforms.now()
        await platforms.shopify(client, "refunds/create", platforms.payload("shopify_refund"))
        await platforms.shopify(
            client, "orders/create", platforms.payload("shopify_order", created_at=now)
        )
        later = platforms.payload("shopify_order", id=42, created_at=now)
        await platforms.shopify(client, "orders/create", later)
        refund = platforms.payload("shopify_refund", id=929361465, order_id=42)
        await platforms.shopify(client, "refunds/create", refund)
        response = await api.get("/api/stats")
        totals = response.json()["totals"]
        assert (totals["orders"], totals["revenue"], totals["refunds"]) == (
            2,
            {"EUR": "99.80"},
            {"EUR": "20.00"},
        )


class TestMedianTimeToOrder:
    async def test_is_exact_to_the_half_millisecond(
        self, app: TrackerApp, api: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        """Gaps are kept in whole milliseconds; a click's microseconds round to the nearest."""
        await factories.create_link(api, slug="reel")
        first = await _visit(app, "reel", "198.51.100.1", IPHONE, None, None)
        second = await _visit(app, "reel", "198.51.100.2", IPHONE, None, None)
        for order_id, click, gap in (("M1", first, 90_001_400), ("M2", second, 90_003_600)):
            at = await _clicked_at(app, click) + timedelta(microseconds=gap)
            await _order(client, order_id, at, "10.00", "EUR", click_id=click)
        window = _around(datetime.now(UTC).date())
        response = await api.get("/api/stats", params={"group_by": "link", **window})
        assert response.status_code == 200, response.text
        data = response.json()
        # 90,001 and 90,004 ms: the median is 90,002.5 ms, shown as it is.
        assert data["totals"]["median_time_to_order_s"] == 90.0025
        assert _rows(data)["reel"]["median_time_to_order_s"] == 90.0025


class TestALongPeriod:
    async def test_orders_on_both_sides_of_its_middle_make_one_figure(
        self,
        clock: time_machine.Traveller,
        app: TrackerApp,
        api: httpx.AsyncClient,
        client: httpx.AsyncClient,
    ) -> None:
        """PostgreSQL reads all links' orders of a long period in two halves at once
        (`service._orders`, from 180 days): a month astride the middle, the medians and the
        totals are whole."""
        await factories.create_link(api, slug="year")
        orders = (  # click time, seconds to order, amount; the middle is 2026-05-22 12:00 UTC
            ("2025-12-10T10:00:00", 100, "10.00", "EUR"),
            ("2026-05-22T11:00:00", 300, "20.00", "EUR"),
            ("2026-05-22T13:00:00", 200, "30.00", "EUR"),
            ("2026-10-01T09:00:00", 400, "40.00", "USD"),
        )
        for n, (clicked, gap, amount, currency) in enumerate(orders):
            clock.move_to(datetime.fromisoformat(clicked).replace(tzinfo=UTC))
            click_id = await _visit(app, "year", f"198.51.100.{n}", IPHONE, None, None)
            at = await _clicked_at(app, click_id) + timedelta(seconds=gap)
            clock.move_to(at)
            await _order(client, f"Y{n}", at, amount, currency, click_id=click_id)
        clock.move_to(NOON)
        year = {"from": "2025-11-21", "to": "2026-11-20"}

        data = (await api.get("/api/stats", params={**year, "group_by": "month"})).json()
        figures = ("clicks", "orders", "revenue", "median_time_to_order_s")
        months = {
            row["key"]: tuple(row[figure] for figure in figures)
            for row in data["rows"]
            if row["clicks"]
        }
        assert months == {
            "2025-12": (1, 1, {"EUR": "10.00"}, 100.0),
            "2026-05": (2, 2, {"EUR": "50.00"}, 250.0),
            "2026-10": (1, 1, {"USD": "40.00"}, 400.0),
        }
        totals = data["totals"]
        assert (totals["orders"], totals["revenue"], totals["median_time_to_order_s"]) == (
            4,
            {"EUR": "60.00", "USD": "40.00"},
            250.0,
        )
        by_link = (await api.get("/api/stats", params={**year, "group_by": "link"})).json()
        assert _rows(by_link)["year"]["median_time_to_order_s"] == 250.0
        assert _rows(by_link)["year"]["orders"] == 4


class TestLinkStats:
    async def test_totals_and_a_zero_filled_daily_series(
        self, api: httpx.AsyncClient, shop: Shop
    ) -> None:
        response = await api.get("/api/links/ig-story/stats", params=shop.params)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["link"] == "ig-story"
        assert (data["totals"]["clicks"], data["totals"]["net_revenue"]) == (3, {"EUR": "70.00"})
        today = shop.today
        assert data["series"] == [
            {
                "date": (today - timedelta(days=1)).isoformat(),
                "clicks": 0,
                "orders": 0,
                "net_revenue": {},
            },
            {"date": today.isoformat(), "clicks": 3, "orders": 2, "net_revenue": {"EUR": "70.00"}},
            {
                "date": (today + timedelta(days=1)).isoformat(),
                "clicks": 0,
                "orders": 0,
                "net_revenue": {},
            },
        ]
        assert (await api.get("/api/links/nope/stats")).status_code == 404


class TestCsv:
    async def test_the_same_rows_as_csv(self, api: httpx.AsyncClient, shop: Shop) -> None:
        response = await api.get("/api/stats.csv", params={**shop.params, "group_by": "link"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"].startswith(
            'attachment; filename="tracker-stats-link-'
        )
        lines = response.text.splitlines()
        header = lines[0].split(",")
        assert header[:9] == [
            "key",
            "clicks",
            "bot_clicks",
            "unique_visitors",
            "orders",
            "conversion_rate",
            "median_time_to_order_s",
            "impressions",
            "ctr",
        ]
        assert {
            "revenue_EUR",
            "revenue_USD",
            "revenue_JPY",
            "net_revenue_EUR",
            "cost_JPY",
            "roas_EUR",
        } <= set(header)
        story = dict(zip(header, lines[1].split(","), strict=True))
        assert (
            story["key"],
            story["clicks"],
            story["net_revenue_EUR"],
            story["roas_EUR"],
            story["revenue_USD"],
        ) == ("ig-story", "3", "70.00", "3.5", "")
        assert len(lines) == 5


class TestTimeZones:
    async def _click_at(self, app: TrackerApp, api: httpx.AsyncClient, moments: list[str]) -> None:
        await factories.create_link(api, slug="tz")
        (link,) = await factories.rows(app, Link)
        for n, moment in enumerate(moments):
            app.runtime.journal.append(
                factories.click_record(
                    f"tz-click-{n}",
                    link.id,
                    datetime.fromisoformat(moment),
                    user_agent=CHROME,
                    visitor_hash=f"{n:032d}",
                )
            )
        await factories.flush_clicks(app)

    async def _days(
        self, api: httpx.AsyncClient, tz: str, start: str, end: str, group_by: str = "day"
    ) -> dict[str, int]:
        response = await api.get(
            "/api/stats", params={"from": start, "to": end, "tz": tz, "group_by": group_by}
        )
        assert response.status_code == 200, response.text
        return {row["key"]: row["clicks"] for row in response.json()["rows"]}

    async def test_a_late_evening_click_falls_on_the_local_day(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        await self._click_at(app, api, ["2026-11-20T23:30:00+00:00"])
        assert await self._days(api, "Europe/Berlin", "2026-11-20", "2026-11-21") == {
            "2026-11-21": 1
        }
        assert await self._days(api, "America/New_York", "2026-11-20", "2026-11-21") == {
            "2026-11-20": 1
        }
        assert await self._days(api, "UTC", "2026-11-20", "2026-11-21") == {"2026-11-20": 1}
        assert await self._days(api, "Asia/Kolkata", "2026-11-21", "2026-11-21") == {
            "2026-11-21": 1
        }
        assert await self._days(api, "Europe/Berlin", "2026-11-01", "2026-11-30", "week") == {
            "2026-11-16": 1
        }
        assert await self._days(api, "Pacific/Kiritimati", "2026-11-01", "2026-11-30", "month") == {
            "2026-11": 1
        }
        # Range edges are local days too: in Berlin the click belongs to the 21st only.
        assert await self._days(api, "Europe/Berlin", "2026-11-20", "2026-11-20") == {}

    async def test_days_across_daylight_saving_changes(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        await self._click_at(
            app,
            api,
            [
                "2026-03-08T04:30:00+00:00",  # 23:30 EST on 7 March
                "2026-03-09T03:30:00+00:00",  # 23:30 EDT on 8 March
                "2026-11-01T03:30:00+00:00",  # 23:30 EDT on 31 October
                "2026-11-02T04:30:00+00:00",  # 23:30 EST on 1 November
            ],
        )
        days = await self._days(api, "America/New_York", "2026-01-01", "2026-12-31")
        assert days == {"2026-03-07": 1, "2026-03-08": 1, "2026-10-31": 1, "2026-11-01": 1}


class TestBadParameters:
    @pytest.mark.parametrize(
        ("params", "word"),
        [
            ({"from": "2026-11-20", "to": "2026-11-01"}, "from"),
            ({"group_by": "planet"}, "group_by"),
            ({"tz": "Mars/Olympus"}, "tz"),
            ({"tz": "../../etc/passwd"}, "tz"),
            ({"from": "20/11/2026"}, "from"),
            ({"to": "2026-13-01"}, "to"),
            ({"from": "2019-01-01", "to": "2026-01-01"}, "5 years"),
        ],
    )
    async def test_are_422_naming_the_parameter(
        self, api: httpx.AsyncClient, params: dict[str, str], word: str
    ) -> None:
        for path in ("/api/stats", "/api/stats.csv"):
            response = await api.get(path, params=params)
            assert response.status_code == 422, response.text
            assert word in response.text

    async def test_needs_a_key(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/stats")).status_code == 401


class TestOpenAPI:
    async def test_documents_every_metric_the_reports_answer_with(
        self, api: httpx.AsyncClient
    ) -> None:
        document = (await api.get("/openapi.json")).json()
        schemas = document["components"]["schemas"]
        documented = schemas["Metrics"]["properties"]
        assert all(field.get("description") for field in documented.values())
        answer = (await api.get("/api/stats", params={"group_by": "day"})).json()
        assert set(answer["totals"]) == set(documented)
        assert set(schemas["Row"]["properties"]) == {*documented, "key"}
        stats = document["paths"]["/api/stats"]["get"]["responses"]["200"]
        assert stats["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Report"
        }
        link_stats = document["paths"]["/api/links/{slug}/stats"]["get"]["responses"]["200"]
        assert link_stats["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/LinkReport"
        }


class TestTheClock:
    """Boundaries that depend on when "now" is, set on purpose instead of waited for."""

    async def test_a_click_before_midnight_utc_and_its_order_after_it(
        self,
        clock: time_machine.Traveller,
        app: TrackerApp,
        api: httpx.AsyncClient,
        client: httpx.AsyncClient,
    ) -> None:
        await factories.create_link(api, slug="late")
        clock.move_to(datetime(2026, 11, 20, 23, 59, 59, 900_000, tzinfo=UTC))
        click_id = await _visit(app, "late", "198.51.100.1", CHROME, None, None)
        assert (await _clicked_at(app, click_id)).date() == date(2026, 11, 20)
        clock.move_to(datetime(2026, 11, 21, 0, 0, 0, 100_000, tzinfo=UTC))
        await _order(client, "after-midnight", datetime.now(UTC), "9.90", "EUR", click_id=click_id)
        response = await api.get(
            "/api/stats", params={"from": "2026-11-20", "to": "2026-11-21", "group_by": "day"}
        )
        days = {row["key"]: (row["clicks"], row["orders"]) for row in response.json()["rows"]}
        assert days == {"2026-11-20": (1, 0), "2026-11-21": (0, 1)}

    @pytest.mark.parametrize(
        ("now", "tz", "first_instant"),
        [
            # New York left daylight saving time at 06:00 UTC on 1 November: the period's
            # first day, 3 October, still began at 00:00 EDT.
            ("2026-11-01T16:00:00+00:00", "America/New_York", "2026-10-03T04:00:00Z"),
            # Kathmandu is UTC+05:45: one second before its midnight, then one after.
            ("2026-11-20T18:14:59+00:00", "Asia/Kathmandu", "2026-10-21T18:15:00Z"),
            ("2026-11-20T18:15:01+00:00", "Asia/Kathmandu", "2026-10-22T18:15:00Z"),
            ("2026-11-20T23:59:59+00:00", "UTC", "2026-10-22T00:00:00Z"),
            ("2026-11-21T00:00:00+00:00", "UTC", "2026-10-23T00:00:00Z"),
        ],
    )
    async def test_the_default_period_is_today_and_the_29_days_before_it(
        self,
        clock: time_machine.Traveller,
        api: httpx.AsyncClient,
        now: str,
        tz: str,
        first_instant: str,
    ) -> None:
        clock.move_to(datetime.fromisoformat(now), tick=False)
        data = (await api.get("/api/stats", params={"tz": tz})).json()
        instants = (datetime.fromisoformat(data["from"]), datetime.fromisoformat(data["to"]))
        assert instants == (datetime.fromisoformat(first_instant), datetime.fromisoformat(now))
