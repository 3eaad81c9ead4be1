"""The links API over HTTP: every field of SPEC §4, and bad input that changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
import time_machine

from tests import factories
from tests.conftest import NOON
from tracker import auth
from tracker.auth import WrongKeyLimiter
from tracker.config import Settings
from tracker.main import create_app
from tracker.models import ApiKey, Click, Link, LinkTag
from tracker.server.dispatch import TrackerApp

# In the process's own time, set by conftest's clock: no test here depends on when it runs.
pytestmark = pytest.mark.usefixtures("clock")

SHOP = "https://shop.example.com/products/mug"


class TestCreate:
    async def test_answers_the_link_with_every_field(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/api/links",
            json={
                "url": "https://shop.example.com/p?color=red&utm_source=old#reviews",
                "slug": "Mug-IG_1",
                "utm_source": "instagram",
                "utm_medium": "social",
                "utm_campaign": "spring sale",
                "utm_term": "mug",
                "utm_content": "story-1",
                "title": "Spring mug — story",
                "tags": ["mugs", "spring", "mugs"],
                "expires_at": "2030-01-01T12:00:00+02:00",
                "max_clicks": 1000,
                "redirect_status": 307,
            },
        )
        assert response.status_code == 201, response.text
        link = response.json()
        assert link["slug"] == "Mug-IG_1"
        assert link["short_url"] == "https://go.test/Mug-IG_1"
        assert link["url"] == "https://shop.example.com/p?color=red&utm_source=old#reviews"
        assert link["destination"] == (
            "https://shop.example.com/p?color=red&utm_source=instagram&utm_medium=social"
            "&utm_campaign=spring%20sale&utm_term=mug&utm_content=story-1#reviews"
        )
        assert link["tags"] == ["mugs", "spring"]
        assert link["expires_at"] == "2030-01-01T10:00:00Z"
        assert (link["max_clicks"], link["redirect_status"], link["disabled"]) == (1000, 307, False)
        assert link["title"] == "Spring mug — story"
        assert link["created_at"].endswith("Z")

    async def test_generates_a_seven_character_base62_slug(self, api: httpx.AsyncClient) -> None:
        link = await factories.create_link(api)
        assert len(link["slug"]) == 7 and link["slug"].isalnum() and link["slug"].isascii()
        assert link["redirect_status"] == 302

    async def test_unicode_is_percent_encoded_and_idn_hosts_punycoded(
        self, api: httpx.AsyncClient
    ) -> None:
        link = await factories.create_link(
            api, url="https://bücher.example/straße?q=café", utm_source="ñandú"
        )
        assert link["destination"] == (
            "https://xn--bcher-kva.example/stra%C3%9Fe?q=caf%C3%A9&utm_source=%C3%B1and%C3%BA"
        )
        assert link["destination"].isascii()

    async def test_a_taken_slug_is_409(self, api: httpx.AsyncClient, app: TrackerApp) -> None:
        await factories.create_link(api, slug="taken")
        response = await api.post("/api/links", json={"url": SHOP, "slug": "taken"})
        assert response.status_code == 409
        assert "taken" in response.json()["detail"]
        assert await factories.count(app, Link) == 1

    async def test_slugs_are_case_sensitive(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(api, slug="abc")
        await factories.create_link(api, slug="ABC")


BAD_LINKS: list[tuple[str, dict[str, Any]]] = [
    ("javascript url", {"url": "javascript:alert(1)"}),
    ("data url", {"url": "data:text/html,<script>alert(1)</script>"}),
    ("ftp url", {"url": "ftp://example.com/file"}),
    ("relative url", {"url": "/products/mug"}),
    ("no host", {"url": "http://"}),
    ("no host with path", {"url": "https:///path"}),
    ("space", {"url": "https://shop.example.com/a b"}),
    ("CR/LF", {"url": "https://shop.example.com/\r\nSet-Cookie: x=1"}),
    ("tab", {"url": "https://shop.example.com/\tx"}),
    ("3000 characters", {"url": "https://shop.example.com/" + "a" * 3000}),
    ("credentials", {"url": "https://user:pw@shop.example.com/"}),
    ("bad port", {"url": "https://shop.example.com:99999/"}),
    ("not a string", {"url": 42}),
    ("missing url", {"slug": "abc"}),
    ("slug with slash", {"url": SHOP, "slug": "a/b"}),
    ("slug with dot", {"url": SHOP, "slug": "a.b"}),
    ("slug of 65 characters", {"url": SHOP, "slug": "a" * 65}),
    ("empty slug", {"url": SHOP, "slug": ""}),
    ("unicode slug", {"url": SHOP, "slug": "café"}),
    ("reserved slug api", {"url": SHOP, "slug": "api"}),
    ("reserved slug docs", {"url": SHOP, "slug": "Docs"}),
    ("reserved slug healthz", {"url": SHOP, "slug": "healthz"}),
    ("utm over 200", {"url": SHOP, "utm_source": "x" * 201}),
    ("utm with newline", {"url": SHOP, "utm_campaign": "a\nb"}),
    ("empty utm", {"url": SHOP, "utm_medium": ""}),
    ("redirect status 200", {"url": SHOP, "redirect_status": 200}),
    ("redirect status 303", {"url": SHOP, "redirect_status": 303}),
    ("unknown field", {"url": SHOP, "owner": "me"}),
    ("max_clicks zero", {"url": SHOP, "max_clicks": 0}),
    ("tags not a list", {"url": SHOP, "tags": "mugs"}),
    ("expires_at garbage", {"url": SHOP, "expires_at": "next tuesday"}),
]


class TestBadInput:
    @pytest.mark.parametrize(("case", "body"), BAD_LINKS, ids=[case for case, _ in BAD_LINKS])
    async def test_is_422_and_stores_nothing(
        self, api: httpx.AsyncClient, app: TrackerApp, case: str, body: dict[str, Any]
    ) -> None:
        response = await api.post("/api/links", json=body)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["detail"]
        assert await factories.count(app, Link) == 0

    async def test_malformed_json_is_400(self, api: httpx.AsyncClient, app: TrackerApp) -> None:
        response = await api.post(
            "/api/links",
            content=b'{"url": "https://a.example/",',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json() == {"detail": "malformed JSON body"}
        assert await factories.count(app, Link) == 0

    async def test_a_huge_body_is_413(self, api: httpx.AsyncClient, app: TrackerApp) -> None:
        body = b'{"url": "https://a.example/", "title": "' + b"x" * 2_000_000 + b'"}'
        response = await api.post(
            "/api/links", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert await factories.count(app, Link) == 0

    async def test_a_huge_chunked_body_is_413(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        async def chunks() -> Any:
            for _ in range(40):
                yield b"x" * 65536

        response = await api.post(
            "/api/links", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert await factories.count(app, Link) == 0


class TestAuthentication:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer trk_not-a-real-key"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer "},
        ],
        ids=["missing", "wrong", "basic", "empty"],
    )
    async def test_without_a_valid_key_every_endpoint_is_401(
        self, client: httpx.AsyncClient, app: TrackerApp, headers: dict[str, str]
    ) -> None:
        for method, path in [
            ("POST", "/api/links"),
            ("GET", "/api/links"),
            ("GET", "/api/links/abc"),
            ("PATCH", "/api/links/abc"),
            ("DELETE", "/api/links/abc"),
            ("POST", "/api/links/bulk"),
            ("GET", "/api/links/abc/qr"),
        ]:
            response = await client.request(method, path, headers=headers, json={"url": SHOP})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
        assert await factories.count(app, Link) == 0

    async def test_a_revoked_key_is_401(self, api: httpx.AsyncClient, app: TrackerApp) -> None:
        from tracker import auth

        assert (await api.get("/api/links")).status_code == 200
        async with app.runtime.sessionmaker() as session, session.begin():
            (key,) = await auth.list_keys(session)
            await auth.revoke_key(session, key.id)
        assert (await api.get("/api/links")).status_code == 401

    async def test_a_keys_last_use_is_written_once_a_minute(
        self, api: httpx.AsyncClient, app: TrackerApp, clock: time_machine.Traveller
    ) -> None:
        """Shown to the minute by `tracker keys list`; not a write per request."""

        async def last_use() -> datetime | None:
            (key,) = await factories.rows(app, ApiKey)
            return key.last_used_at

        clock.move_to(NOON, tick=False)
        for path in ("/api/links", "/api/stats"):  # a read, and a report on its readers
            assert (await api.get(path)).status_code == 200
            assert await last_use() == NOON
        clock.move_to(NOON + timedelta(seconds=59), tick=False)
        assert (await api.get("/api/links")).status_code == 200
        assert await last_use() == NOON
        clock.move_to(NOON + timedelta(seconds=60), tick=False)
        assert (await api.post("/api/links", json={"url": SHOP})).status_code == 201
        assert await last_use() == NOON + timedelta(seconds=60)


class TestListAndGet:
    async def test_filters(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(
            api,
            slug="ig",
            utm_source="instagram",
            utm_medium="social",
            utm_campaign="spring",
            tags=["mugs"],
        )
        await factories.create_link(
            api,
            slug="fb",
            utm_source="facebook",
            utm_medium="social",
            utm_campaign="spring",
            title="Facebook post",
        )
        await factories.create_link(
            api,
            slug="nl",
            url="https://shop.example.com/news",
            utm_source="newsletter",
            utm_medium="email",
            utm_campaign="autumn",
            tags=["mugs", "news"],
        )

        async def slugs(**params: str) -> list[str]:
            response = await api.get("/api/links", params=params)
            assert response.status_code == 200, response.text
            return [item["slug"] for item in response.json()["items"]]

        assert await slugs() == ["nl", "fb", "ig"]
        assert await slugs(utm_source="instagram") == ["ig"]
        assert await slugs(utm_medium="social") == ["fb", "ig"]
        assert await slugs(utm_campaign="autumn") == ["nl"]
        assert await slugs(tag="mugs") == ["nl", "ig"]
        assert await slugs(q="FACEBOOK") == ["fb"]
        assert await slugs(q="news") == ["nl"]
        assert await slugs(q="%") == []
        assert await slugs(utm_source="instagram", tag="news") == []

    async def test_cursor_pagination_visits_every_link_once(self, api: httpx.AsyncClient) -> None:
        created = [(await factories.create_link(api))["slug"] for _ in range(7)]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/api/links", params=params)).json()
            seen += [item["slug"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(created))

    @pytest.mark.parametrize(
        "params",
        [{"cursor": "%%%"}, {"cursor": "bm90LWFuLWludA"}, {"limit": "0"}, {"limit": "201"}],
    )
    async def test_bad_paging_is_422(self, api: httpx.AsyncClient, params: dict[str, str]) -> None:
        assert (await api.get("/api/links", params=params)).status_code == 422

    async def test_get_one_and_unknown(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(api, slug="one", utm_source="x")
        response = await api.get("/api/links/one")
        assert response.status_code == 200 and response.json()["utm_source"] == "x"
        assert (await api.get("/api/links/two")).status_code == 404


class TestUpdate:
    async def test_changes_only_what_is_sent(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(
            api, slug="p", utm_source="ig", utm_medium="social", tags=["a", "b"]
        )
        response = await api.patch(
            "/api/links/p", json={"utm_medium": "paid", "tags": ["b", "c"], "title": None}
        )
        assert response.status_code == 200, response.text
        link = response.json()
        assert (link["utm_source"], link["utm_medium"], link["tags"]) == ("ig", "paid", ["b", "c"])
        assert "utm_medium=paid" in link["destination"]
        assert link["updated_at"] >= link["created_at"]

    @pytest.mark.parametrize(
        "body",
        [
            {"slug": "new"},
            {"url": "javascript:alert(1)"},
            {"url": None},
            {"redirect_status": 200},
            {"disabled": None},
        ],
        ids=["slug", "javascript", "null url", "status 200", "null disabled"],
    )
    async def test_bad_updates_are_422_and_change_nothing(
        self, api: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        before = await factories.create_link(api, slug="p")
        response = await api.patch("/api/links/p", json=body)
        assert response.status_code == 422, response.text
        assert (await api.get("/api/links/p")).json() == before

    async def test_unknown_link_is_404(self, api: httpx.AsyncClient) -> None:
        assert (await api.patch("/api/links/nope", json={"title": "x"})).status_code == 404


class TestDelete:
    async def test_deleted_links_leave_the_api_but_keep_their_slug(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        """The row stays: clicks, rollup and visitor days name their link without a foreign key."""
        await factories.create_link(api, slug="gone", tags=["t"])
        await factories.click(client, "gone", app)
        assert (await api.delete("/api/links/gone")).status_code == 204
        assert (await api.get("/api/links/gone")).status_code == 404
        assert (await api.get("/api/links")).json()["items"] == []
        assert (await api.delete("/api/links/gone")).status_code == 404
        assert (await api.post("/api/links", json={"url": SHOP, "slug": "gone"})).status_code == 409
        assert await factories.count(app, Link) == 1
        assert await factories.count(app, LinkTag) == 1
        assert await factories.count(app, Click) == 1


class TestBulk:
    async def test_one_link_per_channel(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/api/links/bulk",
            json={
                "url": SHOP,
                "utm_campaign": "launch",
                "tags": ["launch"],
                "variants": [
                    {"utm_source": "instagram", "utm_medium": "social", "slug": "launch-ig"},
                    {"utm_source": "facebook", "utm_medium": "social", "utm_content": "video"},
                    {"utm_source": "newsletter", "utm_medium": "email"},
                ],
            },
        )
        assert response.status_code == 201, response.text
        items = response.json()["items"]
        assert [item["utm_source"] for item in items] == ["instagram", "facebook", "newsletter"]
        assert items[0]["slug"] == "launch-ig"
        assert all(
            item["utm_campaign"] == "launch" and item["tags"] == ["launch"] for item in items
        )
        assert items[1]["utm_content"] == "video"
        assert len({item["slug"] for item in items}) == 3

    @pytest.mark.parametrize("conflict", ["existing", "repeated"])
    async def test_all_or_none(
        self, api: httpx.AsyncClient, app: TrackerApp, conflict: str
    ) -> None:
        await factories.create_link(api, slug="existing")
        variants = [
            {"utm_source": "instagram", "utm_medium": "social", "slug": "fresh"},
            {"utm_source": "facebook", "utm_medium": "social", "slug": conflict},
            {"utm_source": "x", "utm_medium": "social", "slug": "repeated"},
        ]
        response = await api.post(
            "/api/links/bulk", json={"url": SHOP, "utm_campaign": "c", "variants": variants}
        )
        assert response.status_code == 409
        assert conflict in response.json()["detail"]
        assert await factories.count(app, Link) == 1

    async def test_a_bad_variant_is_422_and_creates_nothing(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        variants = [
            {"utm_source": "instagram", "utm_medium": "social"},
            {"utm_source": "x" * 201, "utm_medium": "social"},
        ]
        response = await api.post(
            "/api/links/bulk", json={"url": SHOP, "utm_campaign": "c", "variants": variants}
        )
        assert response.status_code == 422
        assert await factories.count(app, Link) == 0


class TestQrCode:
    async def test_svg_and_png(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(api, slug="qr")
        svg = await api.get("/api/links/qr/qr")
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert svg.content.lstrip().startswith(b"<?xml") and b"<svg" in svg.content
        png = await api.get("/api/links/qr/qr", params={"format": "png", "scale": "4"})
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")

    async def test_bad_format_and_unknown_link(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(api, slug="qr")
        assert (await api.get("/api/links/qr/qr", params={"format": "gif"})).status_code == 422
        assert (await api.get("/api/links/qr/qr", params={"scale": "500"})).status_code == 422
        assert (await api.get("/api/links/nope/qr")).status_code == 404


class TestDestinations:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1/admin",
            "http://localhost:8080/",
            "http://10.0.0.7/",
            "http://192.168.1.1/router",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://intranet/",
            "http://printer.local/",
        ],
    )
    async def test_internal_destinations_are_refused(
        self, api: httpx.AsyncClient, app: TrackerApp, url: str
    ) -> None:
        response = await api.post("/api/links", json={"url": url})
        assert response.status_code == 422, response.text
        assert "TRACKER_ALLOWED_DESTINATIONS" in response.json()["detail"]
        assert await factories.count(app, Link) == 0

    async def test_an_update_cannot_point_a_link_inside(self, api: httpx.AsyncClient) -> None:
        await factories.create_link(api, slug="out")
        moved = await api.patch("/api/links/out", json={"url": "http://127.0.0.1/"})
        assert moved.status_code == 422
        assert (await api.get("/api/links/out")).json()["url"] == (
            "https://shop.example.com/products/mug"
        )

    async def test_the_allowed_list_names_the_only_hosts_and_may_allow_an_internal_one(
        self, settings: Settings
    ) -> None:
        allowed = ["*.example.com", "10.0.0.7"]
        app = create_app(settings.model_copy(update={"allowed_destinations": allowed}))
        async with app.lifespan(), factories.api_client(app) as api:
            ok = ("https://shop.example.com/a", "https://example.example.com/b", "http://10.0.0.7/")
            for url in ok:
                assert (await api.post("/api/links", json={"url": url})).status_code == 201, url
            for url in ("https://evil.example.org/", "https://example.com.evil.net/"):
                refused = await api.post("/api/links", json={"url": url})
                assert refused.status_code == 422 and "not among" in refused.text


class TestKeys:
    async def test_a_read_key_reads_and_changes_nothing(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="kept")
        async with app.runtime.sessionmaker() as session, session.begin():
            _key, raw = await auth.create_key(session, "agency", "read")
        headers = {"Authorization": f"Bearer {raw}"}
        assert (await api.get("/api/links/kept", headers=headers)).status_code == 200
        assert (await api.get("/api/stats", headers=headers)).status_code == 200
        refused = [
            await api.post(
                "/api/links", json={"url": "https://shop.example.com/"}, headers=headers
            ),
            await api.patch("/api/links/kept", json={"title": "x"}, headers=headers),
            await api.delete("/api/links/kept", headers=headers),
            await api.post(
                "/api/spend",
                json={"utm_campaign": "c", "date": "2026-11-20", "amount": "1", "currency": "EUR"},
                headers=headers,
            ),
        ]
        assert [answer.status_code for answer in refused] == [403, 403, 403, 403]
        assert await factories.count(app, Link) == 1

    async def test_wrong_keys_are_slowed_and_a_valid_one_never_is(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        now = [1000.0]
        app.api.state.wrong_keys = WrongKeyLimiter(burst=10, refill=6.0, clock=lambda: now[0])
        transport = httpx.ASGITransport(app=app, client=("198.51.100.66", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as guesser:
            wrong = {"Authorization": "Bearer trk_guess"}
            statuses = [
                (await guesser.get("/api/links", headers=wrong)).status_code for _ in range(12)
            ]
            assert statuses == [401] * 10 + [429, 429]
            slowed = await guesser.get("/api/links", headers=wrong)
            assert slowed.headers["retry-after"] == "6"
            right = {"Authorization": api.headers["Authorization"]}
            assert (await guesser.get("/api/links", headers=right)).status_code == 200
            now[0] += 6.0  # one more guess a refill
            assert (await guesser.get("/api/links", headers=wrong)).status_code == 401
            assert (await guesser.get("/api/links", headers=wrong)).status_code == 429
        # Another address has a burst of its own.
        assert (await api.get("/api/links", headers=wrong)).status_code == 401


class TestKeysBehindAProxy:
    async def test_wrong_keys_are_counted_per_client_the_trusted_proxy_names(
        self, settings: Settings
    ) -> None:
        proxied = settings.model_copy(update={"trusted_proxies": [ip_network("10.0.0.0/8")]})
        app = create_app(proxied)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 5000))  # the proxy
            async with httpx.AsyncClient(transport=transport, base_url="https://go.test") as http:
                for client, expected in (("198.51.100.1", [401] * 10 + [429]),
                                         ("198.51.100.2", [401])):  # fmt: skip
                    headers = {"Authorization": "Bearer trk_guess", "X-Forwarded-For": client}
                    statuses = [
                        (await http.get("/api/links", headers=headers)).status_code
                        for _ in expected
                    ]
                    assert statuses == expected, client
