"""The dashboard over HTTP: sign-in, sessions, CSRF, security headers, forms and figures."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import time_machine
from sqlalchemy import update

from tests import factories, platforms, servers
from tracker import auth
from tracker.config import Settings
from tracker.dashboard.router import SECURITY_HEADERS
from tracker.main import create_app
from tracker.models import Link, Spend
from tracker.server.dispatch import TrackerApp

pytestmark = pytest.mark.usefixtures("clock")

PAGES = (
    "/dashboard",
    "/dashboard/links",
    "/dashboard/mint",
    "/dashboard/orders",
    "/dashboard/spend",
)


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


async def _sign_in(browser: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await browser.get("/dashboard/sign-in")
    return await browser.post(
        "/dashboard/sign-in", data={"csrf": _csrf(form), "key": key, "next": "/dashboard/links"}
    )


@pytest.fixture
async def browser(app: TrackerApp) -> AsyncIterator[httpx.AsyncClient]:
    """A visitor with a cookie jar, not signed in."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
        yield http


@pytest.fixture
async def signed_in(
    app: TrackerApp, browser: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    answer = await _sign_in(browser, await factories.create_api_key(app, "shop owner"))
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/links")
    yield browser


class TestSignIn:
    async def test_the_root_leads_to_the_dashboard_and_it_to_the_sign_in(
        self, browser: httpx.AsyncClient
    ) -> None:
        root = await browser.get("/")
        assert (root.status_code, root.headers["location"]) == (307, "/dashboard")
        for path in PAGES:
            page = await browser.get(path)
            assert page.status_code == 303
            assert page.headers["location"].startswith("/dashboard/sign-in?next=")

    async def test_a_wrong_key_is_refused_and_a_right_one_opens_every_page(
        self, app: TrackerApp, browser: httpx.AsyncClient
    ) -> None:
        refused = await _sign_in(browser, "trk_not-a-key")
        assert refused.status_code == 401
        assert "That key is not valid." in refused.text
        assert (await browser.get("/dashboard")).status_code == 303
        answer = await _sign_in(browser, await factories.create_api_key(app))
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
        for path in PAGES:
            page = await browser.get(path)
            assert page.status_code == 200, (path, page.text[:300])

    async def test_sign_in_never_sends_anyone_elsewhere(
        self, app: TrackerApp, browser: httpx.AsyncClient
    ) -> None:
        form = await browser.get("/dashboard/sign-in")
        answer = await browser.post(
            "/dashboard/sign-in",
            data={
                "csrf": _csrf(form),
                "key": await factories.create_api_key(app),
                "next": "https://evil.example/",
            },
        )
        assert answer.headers["location"] == "/dashboard"

    async def test_sign_out_ends_the_session(self, signed_in: httpx.AsyncClient) -> None:
        page = await signed_in.get("/dashboard")
        answer = await signed_in.post("/dashboard/sign-out", data={"csrf": _csrf(page)})
        assert answer.headers["location"] == "/dashboard/sign-in"
        assert (await signed_in.get("/dashboard")).status_code == 303

    async def test_a_revoked_key_ends_its_sessions(
        self, app: TrackerApp, signed_in: httpx.AsyncClient
    ) -> None:
        assert (await signed_in.get("/dashboard")).status_code == 200
        async with app.runtime.sessionmaker() as session, session.begin():
            for key in await auth.list_keys(session):
                await auth.revoke_key(session, key.id)
        assert (await signed_in.get("/dashboard")).status_code == 303

    async def test_a_session_idle_for_longer_than_eight_hours_ends(
        self, clock: time_machine.Traveller, signed_in: httpx.AsyncClient
    ) -> None:
        clock.shift(timedelta(hours=7, minutes=59))
        assert (await signed_in.get("/dashboard")).status_code == 200  # and renewed
        clock.shift(timedelta(hours=7, minutes=59))
        assert (await signed_in.get("/dashboard")).status_code == 200
        clock.shift(timedelta(hours=8, minutes=1))
        assert (await signed_in.get("/dashboard")).status_code == 303

    async def test_a_forged_cookie_is_a_visitor_without_a_session(
        self, browser: httpx.AsyncClient
    ) -> None:
        browser.cookies.set("tracker_session", '{"k": 1, "c": "x"}', domain="go.test")
        assert (await browser.get("/dashboard")).status_code == 303


class TestForms:
    async def test_every_form_refuses_a_missing_or_foreign_token(
        self, app: TrackerApp, signed_in: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="keep")
        for path in (
            "/dashboard/mint",
            "/dashboard/spend",
            "/dashboard/links/keep/delete",
            "/dashboard/sign-out",
            "/dashboard/sign-in",
        ):
            for token in ({}, {"csrf": "forged"}):
                answer = await signed_in.post(path, data={**token, "url": "https://x.example/"})
                assert answer.status_code == 403, path
        assert len(await factories.rows(app, Link)) == 1
        assert (await signed_in.get("/keep")).status_code == 302  # not deleted

    async def test_mint_one_link_then_bulk_one_per_channel(
        self, app: TrackerApp, signed_in: httpx.AsyncClient
    ) -> None:
        csrf = _csrf(await signed_in.get("/dashboard/mint"))
        one = await signed_in.post(
            "/dashboard/mint",
            data={
                "csrf": csrf, "url": "https://shop.example.com/mug", "utm_source": "instagram",
                "utm_medium": "social", "utm_campaign": "spring", "slug": "mug-ig",
                "tags": "mugs, spring",
            },
        )  # fmt: skip
        assert (one.status_code, one.headers["location"]) == (
            303,
            "/dashboard/links/mug-ig?minted=1",
        )
        bulk = await signed_in.post(
            "/dashboard/mint",
            data={
                "csrf": csrf, "url": "https://shop.example.com/mug", "utm_campaign": "spring",
                "channel": ["facebook/social", "newsletter/email"],
            },
        )  # fmt: skip
        assert bulk.status_code == 303
        links = {link.utm_source: link for link in await factories.rows(app, Link)}
        assert sorted(links) == ["facebook", "instagram", "newsletter"]
        assert links["newsletter"].utm_medium == "email"
        page = await signed_in.get("/dashboard/links/mug-ig")
        assert "https://go.test/mug-ig" in page.text
        assert "utm_campaign=spring" in page.text

    async def test_errors_sit_beside_their_fields_and_the_input_stays(
        self, app: TrackerApp, signed_in: httpx.AsyncClient
    ) -> None:
        csrf = _csrf(await signed_in.get("/dashboard/mint"))
        wrong = await signed_in.post(
            "/dashboard/mint",
            data={"csrf": csrf, "url": "ftp://nope", "utm_source": "instagram", "slug": "a b"},
        )
        assert wrong.status_code == 422
        assert 'id="url-error"' in wrong.text and 'id="slug-error"' in wrong.text
        assert 'value="instagram"' in wrong.text and 'value="ftp://nope"' in wrong.text
        assert await factories.rows(app, Link) == []

    async def test_spend_recorded_through_the_form_and_refused_beside_its_field(
        self, app: TrackerApp, signed_in: httpx.AsyncClient
    ) -> None:
        csrf = _csrf(await signed_in.get("/dashboard/spend"))
        fields = {"csrf": csrf, "target": "campaign", "name": "spring", "date": "2026-11-20"}
        done = await signed_in.post(
            "/dashboard/spend", data={**fields, "amount": "12.50", "currency": "EUR"}
        )
        assert done.headers["location"] == "/dashboard/spend?recorded=1"
        wrong = await signed_in.post(
            "/dashboard/spend", data={**fields, "amount": "12.345", "currency": "EUR"}
        )
        assert wrong.status_code == 422 and 'id="amount-error"' in wrong.text
        (spend,) = await factories.rows(app, Spend)
        assert (spend.amount_minor, spend.utm_campaign) == (1250, "spring")

    async def test_disable_then_delete_a_link(
        self, signed_in: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="soon-gone")
        csrf = _csrf(await signed_in.get("/dashboard/links/soon-gone"))
        await signed_in.post("/dashboard/links/soon-gone/disable", data={"csrf": csrf})
        assert (await signed_in.get("/soon-gone")).status_code == 410
        await signed_in.post("/dashboard/links/soon-gone/delete", data={"csrf": csrf})
        assert (await signed_in.get("/dashboard/links/soon-gone")).status_code == 404


class TestPages:
    async def test_every_answer_carries_the_security_headers_and_no_other_host(
        self, signed_in: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="shown")
        paths = (*PAGES, "/dashboard/links/shown", "/dashboard/links/none", "/dashboard/sign-in")
        for path in paths:
            page = await signed_in.get(path)
            for name, value in SECURITY_HEADERS.items():
                assert page.headers[name] == value, (path, name)
            sources = re.findall(r'(?:src|href|action)="([^"]+)"', page.text)
            outside = [
                s for s in sources if s.startswith(("http:", "https:", "//"))
                and not s.startswith("https://go.test/") and "shop.example.com" not in s
            ]  # fmt: skip
            assert outside == [], path
            assert "style=" not in page.text and "<script>" not in page.text

    async def test_the_overview_shows_the_figures_of_the_api(
        self, app: TrackerApp, signed_in: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="ig", utm_campaign="spring", utm_source="instagram")
        for _ in range(3):
            await factories.click(signed_in, "ig")
        await signed_in.get("/ig", headers={"User-Agent": "Twitterbot/1.0"})
        await factories.flush_clicks(app)
        totals = (await api.get("/api/stats")).json()["totals"]
        page = (await signed_in.get("/dashboard")).text
        assert totals["clicks"] == 3
        assert re.search(
            r'<span class="label">Clicks</span>\s*<strong class="value">3</strong>', page
        )
        assert "spring" in page and "instagram" in page
        assert "<strong>1</strong> bot or link-preview click, not counted above." in page
        # No spend, so no impressions: no click-through rate, rather than "– click-through".
        assert "click-through" not in page

    async def test_the_orders_page_shows_each_order_with_its_own_refunds(
        self, signed_in: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        """Two refunds of one order summed beside it, none beside the other, one refund
        that came before its order counted when the order comes."""
        now = platforms.now()
        await platforms.shopify(client, "refunds/create", platforms.payload("shopify_refund"))
        for number in (5678901234567, 42):
            order = platforms.payload("shopify_order", id=number, created_at=now)
            await platforms.shopify(client, "orders/create", order)
        third = platforms.payload("shopify_order", id=43, created_at=now)
        await platforms.shopify(client, "orders/create", third)
        for refund_id in (929361465, 929361466):
            refund = platforms.payload("shopify_refund", id=refund_id, order_id=42)
            await platforms.shopify(client, "refunds/create", refund)
        page = (await signed_in.get("/dashboard/orders")).text
        refunded = {
            number: re.search(
                rf"shopify · {number}</td>.*?</td>.*?</td>\s*<td class=\"n\">([^<]*)</td>",
                page,
                re.S,
            )
            for number in (5678901234567, 42, 43)
        }
        assert {n: found.group(1) if found else None for n, found in refunded.items()} == {
            5678901234567: "10.00 EUR",
            42: "20.00 EUR",
            43: "–",
        }

    async def test_a_link_page_shows_what_the_link_cost_and_returned(
        self,
        app: TrackerApp,
        signed_in: httpx.AsyncClient,
        api: httpx.AsyncClient,
        client: httpx.AsyncClient,
    ) -> None:
        """The post's own question on its own page: did it pay for itself?"""
        await factories.create_link(api, slug="paid", utm_campaign="spring")
        await factories.create_link(api, slug="unpaid", utm_campaign="spring")
        click_id = await factories.click(signed_in, "paid", app)
        order = {
            "order_id": "P-1", "amount": "64.00", "currency": "EUR", "status": "paid",
            "occurred_at": platforms.now(), "click_id": click_id,
        }  # fmt: skip
        assert (await platforms.generic(client, order)).status_code == 200
        spend = {"link": "paid", "date": platforms.now()[:10], "amount": "16.00", "currency": "EUR"}
        assert (await api.post("/api/spend", json=spend)).status_code == 201
        paid = (await signed_in.get("/dashboard/links/paid")).text
        assert re.search(r"<dt>Cost</dt><dd><span class=\"piece\">16.00 EUR</span></dd>", paid)
        assert '<span class="piece">4.00× EUR</span>' in paid  # 64.00 / 16.00
        assert '<span class="piece">300.0% EUR</span>' in paid
        unpaid = (await signed_in.get("/dashboard/links/unpaid")).text
        assert "Record what this link cost on the" in unpaid and "Return on ad spend" not in unpaid

    async def test_the_qr_code_downloads_as_svg_and_png(
        self, signed_in: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="qr")
        svg = await signed_in.get("/dashboard/links/qr/qr.svg")
        png = await signed_in.get("/dashboard/links/qr/qr.png")
        assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
        assert png.content.startswith(b"\x89PNG")


class TestReadKeys:
    async def test_a_read_key_sees_the_pages_but_cannot_mint_or_change(
        self, app: TrackerApp, browser: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="theirs")
        async with app.runtime.sessionmaker() as session, session.begin():
            _key, raw = await auth.create_key(session, "agency", "read")
        assert (await _sign_in(browser, raw)).status_code == 303
        for path in ("/dashboard", "/dashboard/links", "/dashboard/links/theirs"):
            assert (await browser.get(path)).status_code == 200, path
        assert 'href="/dashboard/mint"' not in (await browser.get("/dashboard")).text
        assert (await browser.get("/dashboard/mint")).status_code == 403
        csrf = _csrf(await browser.get("/dashboard/links/theirs"))
        deleted = await browser.post("/dashboard/links/theirs/delete", data={"csrf": csrf})
        assert deleted.status_code == 403 and "may only read" in deleted.text
        assert (await browser.get("/theirs")).status_code == 302


class TestBesideTheClickWriter:
    async def test_pages_and_api_reads_do_not_queue_behind_a_write(
        self, app: TrackerApp, signed_in: httpx.AsyncClient, api: httpx.AsyncClient
    ) -> None:
        """While another transaction writes (the click writer's batch, say; on SQLite it then
        holds the database's write lock) pages and API reads still answer: they only read.
        Were they to wait for the lock, they would answer 503 after SQLite's busy timeout."""
        await factories.create_link(api, slug="busy")
        api_reads = ("/api/links", "/api/links/busy", "/api/stats", "/api/links/busy/stats")
        assert (await api.get(api_reads[0])).status_code == 200  # its key's last use, written
        async with app.runtime.sessionmaker() as writer, writer.begin():
            await writer.execute(update(Link).values(title="written meanwhile"))
            for path in (*PAGES, "/dashboard/links/busy"):
                assert (await signed_in.get(path)).status_code == 200, path
            for path in api_reads:
                assert (await api.get(path)).status_code == 200, path


class TestOutage:
    async def test_a_page_in_an_outage_is_a_page_with_retry_after(self, settings: Settings) -> None:
        away = settings.model_copy(
            update={"database_url": servers.unreachable(settings.database_url)}
        )
        app = create_app(away)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
                page = await http.get("/dashboard")
        assert (page.status_code, page.headers["retry-after"]) == (503, "5")
        assert page.headers["content-type"].startswith("text/html")
        assert "Back in a moment" in page.text
        assert (
            page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        )
