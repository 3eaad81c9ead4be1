"""GET/HEAD /{slug} over HTTP: the redirect of SPEC §5 and the click it logs."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests import factories
from tests.conftest import CLIENT_IP
from tracker.clicks import bots
from tracker.clicks.salts import NANOSECONDS_A_DAY, DailySalts
from tracker.config import Settings
from tracker.main import create_app
from tracker.models import Click
from tracker.redirect.handler import ClickIds
from tracker.server.dispatch import TrackerApp

# In the process's own time, set by conftest's clock: no test here depends on when it runs.
pytestmark = pytest.mark.usefixtures("clock")

BROWSER = {"User-Agent": factories.IPHONE}


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


class TestRedirect:
    async def test_answers_302_to_the_destination_with_a_click_id(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(
            api, slug="mug", url="https://shop.example.com/p?a=1#top", utm_source="ig"
        )
        response = await client.get("/mug", headers=BROWSER)
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith("https://shop.example.com/p?a=1&utm_source=ig&tclid=")
        assert location.endswith("#top")
        assert response.headers["cache-control"] == "private, no-store"
        (click_id,) = _query(location)["tclid"]
        (click,) = await factories.clicks(app)
        assert click.id == click_id
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", click_id)

    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    async def test_answers_the_links_status(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, status: int
    ) -> None:
        await factories.create_link(api, slug="s", redirect_status=status)
        assert (await client.get("/s")).status_code == status

    async def test_short_url_parameters_are_forwarded_and_win(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(
            api,
            slug="f",
            url="https://shop.example.com/?tclid=stale&x=1",
            utm_source="ig",
            utm_medium="social",
        )
        response = await client.get(
            "/f?utm_source=story&fbclid=IwAR%20x&tclid=forged&note=%0D%0ASet-Cookie:%20a",
            headers=BROWSER,
        )
        query = _query(response.headers["location"])
        assert query["utm_source"] == ["story"]
        assert query["utm_medium"] == ["social"]
        assert query["fbclid"] == ["IwAR x"]
        assert query["x"] == ["1"]
        assert query["note"] == ["\r\nSet-Cookie: a"]
        assert "\r" not in response.headers["location"] and " " not in response.headers["location"]
        (click,) = await factories.clicks(app)
        assert query["tclid"] == [click.id]
        assert click.query == {"utm_source": "story"}

    async def test_a_repeated_query_follows_an_edit_of_the_link(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        """The parsed query is reused per link version: an edit is seen at the next click."""
        await factories.create_link(api, slug="e", url="https://shop.example.com/old")
        first = [await client.get("/e?utm_content=reel&ref=a") for _ in range(2)]
        await api.patch("/api/links/e", json={"url": "https://shop.example.com/new?x=1"})
        second = await client.get("/e?utm_content=reel&ref=a")
        for response in first:
            assert response.headers["location"].startswith(
                "https://shop.example.com/old?utm_content=reel&ref=a&tclid="
            )
        assert second.headers["location"].startswith(
            "https://shop.example.com/new?x=1&utm_content=reel&ref=a&tclid="
        )
        clicks = await factories.clicks(app)
        assert [click.query for click in clicks] == [{"utm_content": "reel"}] * 3
        assert len({click.id for click in clicks}) == 3

    async def test_every_get_is_one_click(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="n")
        ids = {_query((await client.get("/n")).headers["location"])["tclid"][0] for _ in range(25)}
        assert len(ids) == 25
        assert {click.id for click in await factories.clicks(app)} == ids

    async def test_head_answers_the_same_and_logs_nothing(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="h", utm_source="ig")
        response = await client.head("/h")
        assert response.status_code == 302
        assert response.headers["location"] == "https://shop.example.com/products/mug?utm_source=ig"
        assert await factories.clicks(app) == []

    async def test_other_methods_are_405(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="m")
        response = await client.post("/m")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert await factories.clicks(app) == []


class TestClickId:
    def test_ids_sort_by_time_and_carry_96_random_bits(self) -> None:
        """SPEC §5 asks for 96 random bits; the time prefix keeps the key index append-only."""
        ids = ClickIds()
        now = 1_763_640_000_000_000_000  # 2025-11-20T12:00:00Z
        assert ids.new(now) < ids.new(now + 1_000_000) < ids.new(now + 86_400 * 10**9)
        same_millisecond = [ids.new(now) for _ in range(1000)]
        assert len({click_id[8:] for click_id in same_millisecond}) == 1000
        assert all(len(click_id[8:]) * 6 >= 96 for click_id in same_millisecond)


class TestGoneAndUnknown:
    @pytest.mark.parametrize(
        # ("/.." is the root once the client normalizes it, and the root leads to the dashboard.)
        "path",
        ["/nope", "/a/b", "/%2e%2e/", "/mug.", "/" + "a" * 65, "/caf%C3%A9"],
    )
    async def test_unknown_slugs_are_404(
        self, client: httpx.AsyncClient, app: TrackerApp, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 404
        assert await factories.clicks(app) == []

    async def test_404_is_html_for_browsers_and_json_for_programs(
        self, client: httpx.AsyncClient
    ) -> None:
        page = await client.get("/nope", headers={"Accept": "text/html,application/xhtml+xml,*/*"})
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>Link not found</h1>" in page.text
        data = await client.get("/nope", headers={"Accept": "application/json"})
        assert data.headers["content-type"] == "application/json"
        assert data.json() == {"detail": "There is no link at this address."}

    async def test_disabled_deleted_and_expired_links_are_410(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        for slug in ("disabled", "deleted", "live"):
            await factories.create_link(api, slug=slug)
        await factories.create_link(api, slug="expired", expires_at=past)
        await factories.create_link(api, slug="later", expires_at=future)
        assert (await client.get("/disabled")).status_code == 302  # cached as live, then changed
        await api.patch("/api/links/disabled", json={"disabled": True})
        await api.delete("/api/links/deleted")
        for slug, status in [
            ("disabled", 410),
            ("deleted", 410),
            ("expired", 410),
            ("live", 302),
            ("later", 302),
        ]:
            response = await client.get(f"/{slug}", headers={"Accept": "application/json"})
            assert response.status_code == status, slug
        assert (await client.get("/expired")).text.count("Link gone") == 2
        assert len(await factories.clicks(app)) == 3
        await api.patch("/api/links/disabled", json={"disabled": False})
        assert (await client.get("/disabled")).status_code == 302

    async def test_max_clicks_counts_humans_only(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="two", max_clicks=2)
        bot = {
            "User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
        }
        assert (await client.get("/two", headers=bot)).status_code == 302
        assert (await client.get("/two", headers=BROWSER)).status_code == 302
        assert (await client.get("/two", headers=bot)).status_code == 302
        assert (await client.get("/two", headers=BROWSER)).status_code == 302
        assert (await client.get("/two", headers=BROWSER)).status_code == 410
        clicks = await factories.clicks(app)
        assert sorted(click.is_bot for click in clicks) == [False, False, True, True]

    async def test_max_clicks_survives_a_cache_reload(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="one", max_clicks=1)
        assert (await client.get("/one", headers=BROWSER)).status_code == 302
        await factories.clicks(app)  # written
        app.runtime.link_cache.forget("one")
        assert (await client.get("/one", headers=BROWSER)).status_code == 410


class TestClickFields:
    async def test_records_what_section_5_lists(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="c")
        before = datetime.now(UTC)
        await client.get(
            "/c?utm_content=reel",
            headers={
                "User-Agent": factories.IPHONE,
                "Referer": "https://l.instagram.com/?u=https%3A%2F%2Fgo.test%2Fc&e=" + "x" * 2000,
            },
        )
        (click,) = await factories.clicks(app)
        assert before <= click.clicked_at <= datetime.now(UTC)
        assert click.clicked_at.tzinfo is not None
        assert click.referrer_host == "l.instagram.com"
        assert click.referrer is not None and len(click.referrer) == 1024
        assert click.user_agent == factories.IPHONE
        assert (click.device_type, click.browser, click.os, click.is_bot) == (
            "mobile",
            "Mobile Safari",
            "iOS",
            False,
        )
        assert len(click.visitor_hash) == 32
        assert click.country is None
        assert click.query == {"utm_content": "reel"}

    async def test_no_ip_address_is_stored_anywhere(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="p")
        await client.get("/p", headers=BROWSER)
        (click,) = await factories.clicks(app)
        stored = " ".join(str(getattr(click, column.key)) for column in Click.__table__.columns)
        assert CLIENT_IP not in stored

    async def test_user_agent_is_truncated_and_bots_flagged(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="u")
        await client.get("/u", headers={"User-Agent": "Twitterbot/1.0 " + "y" * 600})
        (click,) = await factories.clicks(app)
        assert click.user_agent is not None and len(click.user_agent) == 512
        assert click.is_bot and click.device_type == "bot"

    async def test_a_browser_user_agent_without_accept_language_is_a_program(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        """Previews that borrow a browser's user agent: no browser leaves Accept-Language out."""
        await factories.create_link(api, slug="s")
        await factories.create_link(api, slug="cap", max_clicks=1)
        transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as bare:
            assert (await bare.get("/s", headers=BROWSER)).status_code == 302
            assert (await bare.get("/cap", headers=BROWSER)).status_code == 302
            person = {**BROWSER, **factories.BROWSER_HEADERS}
            assert (await bare.get("/s", headers=person)).status_code == 302
            assert (await bare.get("/cap", headers=person)).status_code == 302  # the one person
            assert (await bare.get("/cap", headers=person)).status_code == 410
        clicks = await factories.clicks(app)
        flagged = [(c.is_bot, c.bot_signal, c.device_type) for c in clicks]
        assert sorted(flagged, key=str) == sorted(
            [
                (True, bots.NO_LANGUAGE, "mobile"),
                (True, bots.NO_LANGUAGE, "mobile"),
                (False, None, "mobile"),
                (False, None, "mobile"),
            ],
            key=str,
        )

    async def test_the_same_visitor_hashes_alike_and_another_differently(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="v")
        for address, agent in [
            ("198.51.100.1", "A"),
            ("198.51.100.1", "A"),
            ("198.51.100.2", "A"),
            ("198.51.100.1", "B"),
        ]:
            transport = httpx.ASGITransport(app=app, client=(address, 4000))
            async with httpx.AsyncClient(
                transport=transport, base_url="https://go.test"
            ) as visitor:
                await visitor.get("/v", headers={"User-Agent": agent})
        hashes = [click.visitor_hash for click in await factories.clicks(app)]
        assert hashes[0] == hashes[1] and len(set(hashes)) == 3


class TestDailySalt:
    async def test_the_redirects_clock_finds_the_shared_salt_once_it_is_loaded(
        self, app: TrackerApp
    ) -> None:
        """A process that started without the database hashes with a salt of its own, and
        with the deployment's as soon as it has it."""
        salts = DailySalts(app.runtime.sessionmaker)
        day = time.time_ns() // NANOSECONDS_A_DAY
        own = salts.for_unix_day(day)
        await salts.refresh()
        shared = salts.for_unix_day(day)
        assert shared != own
        assert shared == app.runtime.salts.for_day(datetime.now(UTC).date())


class TestNetworkSettings:
    @pytest.fixture
    async def proxied(self, settings: Settings) -> TrackerApp:
        configured = settings.model_copy(
            update={
                "trusted_proxies": Settings(
                    _env_file=None, trusted_proxies="10.0.0.0/8"
                ).trusted_proxies,  # type: ignore[call-arg]
                "ignored_networks": Settings(
                    _env_file=None, ignored_networks="192.0.2.0/24"
                ).ignored_networks,  # type: ignore[call-arg]
                "country_header": "cf-ipcountry",
            }
        )
        application = create_app(configured)
        async with application.lifespan():
            yield application

    async def _visit(self, app: TrackerApp, peer: str, headers: dict[str, str]) -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
            return (await http.get("/net", headers={"User-Agent": "A", **headers})).status_code

    async def test_forwarded_for_is_believed_only_from_trusted_proxies(
        self, proxied: TrackerApp
    ) -> None:
        async with factories.api_client(proxied) as api:
            await factories.create_link(api, slug="net")
        # The same visitor (198.51.100.9) through the proxy, directly, and with a forged header.
        assert (
            await self._visit(
                proxied, "10.1.1.1", {"X-Forwarded-For": "198.51.100.9", "CF-IPCountry": "de"}
            )
            == 302
        )
        assert await self._visit(proxied, "198.51.100.9", {}) == 302
        assert (
            await self._visit(proxied, "198.51.100.9", {"X-Forwarded-For": "203.0.113.50"}) == 302
        )
        assert (
            await self._visit(
                proxied, "10.1.1.1", {"X-Forwarded-For": "203.0.113.50, 198.51.100.9, 10.2.2.2"}
            )
            == 302
        )
        # Ignored networks: redirected, not logged, directly or through the proxy.
        assert await self._visit(proxied, "192.0.2.10", {}) == 302
        assert await self._visit(proxied, "10.1.1.1", {"X-Forwarded-For": "192.0.2.11"}) == 302
        clicks = await factories.clicks(proxied)
        assert len(clicks) == 4
        assert len({click.visitor_hash for click in clicks}) == 1
        assert [click.country for click in clicks] == ["DE", None, None, None]


class TestSyncWrites:
    async def test_the_click_is_in_the_database_before_the_answer(self, settings: Settings) -> None:
        application = create_app(
            settings.model_copy(update={"click_write": "sync", "click_flush_interval": 3600})
        )
        async with application.lifespan(), factories.api_client(application) as http:
            await factories.create_link(http, slug="sync")
            await http.get("/sync", headers=BROWSER)
            assert application.runtime.journal.unwritten == 0
            assert await factories.count(application, Click) == 1
