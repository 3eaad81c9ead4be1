"""Several processes and hosts on one database (SPEC §2, §5): what one changes, all answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests import factories, servers
from tests.conftest import BASE_URL, CLIENT_IP, empty_database
from tests.test_cli import tracker
from tracker.config import Settings
from tracker.links import service as links_service
from tracker.links.changes import LISTENER_NAME
from tracker.links.destinations import Policy
from tracker.links.schemas import LinkUpdate
from tracker.main import create_app
from tracker.server.dispatch import TrackerApp


@asynccontextmanager
async def another_process(settings: Settings, spool: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database with its own journal, as another worker or host
    runs it; a visitor's client on it."""
    other = create_app(settings.model_copy(update={"spool_dir": spool}))
    async with other.lifespan():
        transport = httpx.ASGITransport(app=other, client=(CLIENT_IP, 4242))
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=factories.BROWSER_HEADERS
        ) as visitor:
            yield visitor


class TestChangesReachEveryProcess:
    async def test_create_change_disable_and_delete_are_answered_elsewhere_within_a_second(
        self, api: httpx.AsyncClient, settings: Settings, tmp_path: Path
    ) -> None:
        async with another_process(settings, tmp_path / "other") as elsewhere:
            assert (await elsewhere.get("/post")).status_code == 404  # remembered as unknown
            await factories.create_link(api, slug="post", url="https://shop.example.com/a")
            await servers.answers(elsewhere, "post", 302)
            await api.patch("/api/links/post", json={"url": "https://shop.example.com/b"})
            moved = await servers.answers(elsewhere, "post", 302)
            deadline = time.monotonic() + servers.HEARD_WITHIN
            while not moved.headers["location"].startswith("https://shop.example.com/b"):
                assert time.monotonic() < deadline, moved.headers["location"]
                moved = await elsewhere.get("/post")
            await api.patch("/api/links/post", json={"disabled": True})
            await servers.answers(elsewhere, "post", 410)
            await api.patch("/api/links/post", json={"disabled": False})
            await servers.answers(elsewhere, "post", 302)
            await api.delete("/api/links/post")
            await servers.answers(elsewhere, "post", 410)

    async def test_the_command_line_is_heard_by_a_running_server(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, clean_database: str
    ) -> None:
        await factories.create_link(api, slug="cli")
        assert (await client.get("/cli")).status_code == 302
        disabled = tracker("links", "disable", "cli", database_url=clean_database)
        assert disabled.returncode == 0, disabled.stderr
        await servers.answers(client, "cli", 410)

    async def test_readyz_and_the_metrics_say_how_changes_are_heard(
        self, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        mechanism = "polled" if app.runtime.engine.dialect.name == "sqlite" else "notified"
        deadline = time.monotonic() + servers.HEARD_WITHIN
        while (await client.get("/readyz")).json()["link_changes"] != mechanism:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        metrics = (await client.get("/metrics")).text
        assert f'tracker_link_changes_heard{{mechanism="{mechanism}"}} 1.0' in metrics


class TestMaxClicksAcrossProcesses:
    async def test_two_processes_redirect_the_limit_between_them_and_no_more(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp,
        settings: Settings, tmp_path: Path,
    ) -> None:  # fmt: skip
        await factories.create_link(api, slug="drop", max_clicks=40)
        async with another_process(settings, tmp_path / "other") as elsewhere:
            here = [await _person(client, "drop") for _ in range(30)]
            there = [await _person(elsewhere, "drop") for _ in range(30)]
            here += [await _person(client, "drop") for _ in range(10)]
        assert (here + there).count(302) == 40
        assert set(here + there) == {302, 410}
        await factories.flush_clicks(app)
        assert len([c for c in await factories.clicks(app) if not c.is_bot]) == 40

    async def test_a_stopping_process_returns_what_it_did_not_spend(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings,
        tmp_path: Path,
    ) -> None:  # fmt: skip
        await factories.create_link(api, slug="hundred", max_clicks=100)
        async with another_process(settings, tmp_path / "first") as first:
            assert await _person(first, "hundred") == 302  # reserved a block of six
        async with another_process(settings, tmp_path / "second") as second:
            answers = [await _person(second, "hundred") for _ in range(120)]
        assert answers.count(302) == 99
        assert (await _person(client, "hundred")) == 410

    async def test_people_arriving_together_are_not_turned_away_by_a_small_block(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="rush", max_clicks=50)  # blocks of three
        rush = await asyncio.gather(*(_person(client, "rush") for _ in range(60)))
        assert (rush.count(302), rush.count(410)) == (50, 10)

    async def test_bots_pass_until_the_people_used_the_link_up(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="two", max_clicks=2)
        preview = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
        assert [(await client.get("/two", headers=preview)).status_code for _ in range(5)] == [
            302
        ] * 5
        assert [await _person(client, "two") for _ in range(3)] == [302, 302, 410]
        assert (await client.get("/two", headers=preview)).status_code == 410

    async def test_raising_the_limit_of_a_used_up_link_lets_people_through_again(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        await factories.create_link(api, slug="more", max_clicks=1)
        assert [await _person(client, "more") for _ in range(2)] == [302, 410]
        await api.patch("/api/links/more", json={"max_clicks": 3})
        assert [await _person(client, "more") for _ in range(3)] == [302, 302, 410]

    async def test_a_limit_set_on_a_link_in_use_counts_the_clicks_it_had(
        self, api: httpx.AsyncClient, client: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="late")
        assert [await _person(client, "late") for _ in range(3)] == [302] * 3
        await factories.flush_clicks(app)
        await api.patch("/api/links/late", json={"max_clicks": 4})
        assert [await _person(client, "late") for _ in range(2)] == [302, 410]


async def _person(visitor: httpx.AsyncClient, slug: str) -> int:
    response = await visitor.get(f"/{slug}", headers={"User-Agent": factories.IPHONE})
    return response.status_code


class TestWorkers:
    async def test_two_workers_hear_each_others_changes_and_share_a_limit(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        """With `--workers 2` each request on a connection of its own, so that the kernel
        spreads them over both processes."""
        env = servers.environment(clean_database, tmp_path)
        admin = {"Authorization": f"Bearer {servers.api_key(env)}"}
        person = {"User-Agent": factories.IPHONE, **factories.BROWSER_HEADERS}
        async with servers.running(env, tmp_path, "--workers", "2") as server:

            async def visit(slug: str) -> int:
                async with httpx.AsyncClient(base_url=server.base_url) as http:
                    return (await http.get(f"/{slug}", headers=person)).status_code

            async with httpx.AsyncClient(base_url=server.base_url, headers=admin) as http:
                await servers.mint(http, admin["Authorization"][7:], "both")
                assert await asyncio.gather(*(visit("both") for _ in range(20))) == [302] * 20
                await http.patch("/api/links/both", json={"disabled": True})
                deadline = time.monotonic() + servers.HEARD_WITHIN
                while set(await asyncio.gather(*(visit("both") for _ in range(10)))) != {410}:
                    assert time.monotonic() < deadline, "a worker still redirects"

                limited = {"url": "https://shop.example.com/", "slug": "fifty", "max_clicks": 50}
                assert (await http.post("/api/links", json=limited)).status_code == 201
            statuses = []
            for _ in range(12):
                statuses += await asyncio.gather(*(visit("fifty") for _ in range(10)))
            assert server.stop() in (0, -15), server.log()
        # At most the limit; a worker may still hold a few it was not asked for at the end.
        assert 50 - 6 <= statuses.count(302) <= 50, statuses


class TestALostListener:
    async def test_falls_back_to_the_ttl_says_so_and_catches_up_when_back(
        self, postgres_url: str, tmp_path: Path
    ) -> None:
        await empty_database(postgres_url)
        settings = Settings(_env_file=None, database_url=postgres_url, spool_dir=tmp_path)  # type: ignore[call-arg]
        app = create_app(settings)
        async with app.lifespan(), factories.api_client(app) as api:
            transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 4243))
            async with httpx.AsyncClient(
                transport=transport, base_url=BASE_URL, headers=factories.BROWSER_HEADERS
            ) as visitor:
                await factories.create_link(api, slug="held")
                assert (await visitor.get("/held")).status_code == 302
                await _wait_for_state(visitor, "notified")

                await _terminate_listener(postgres_url)
                await _wait_for_state(visitor, "ttl fallback")
                metrics = (await visitor.get("/metrics")).text
                assert 'tracker_link_changes_heard{mechanism="notified"} 0.0' in metrics
                # Changed elsewhere while nobody listens (the listener retries after a
                # second): no word of it reaches this process.
                async with app.runtime.sessionmaker() as session, session.begin():
                    update = LinkUpdate(disabled=True)
                    await links_service.update_link(session, "held", update, Policy())

                await _wait_for_state(visitor, "notified", within=10)
                await servers.answers(visitor, "held", 410)  # caught up, long before the 30 s TTL
        await empty_database(postgres_url)


async def _wait_for_state(visitor: httpx.AsyncClient, state: str, within: float = 2) -> None:
    deadline = time.monotonic() + within
    while (body := (await visitor.get("/readyz")).json())["link_changes"] != state:
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.02)
    assert body["status"] == "ok"  # redirects go on either way


async def _terminate_listener(database_url: str) -> None:
    """End the listener's connection from the server's side, as a failover or a restart of
    PostgreSQL does."""
    url = make_url(database_url)
    connection = await asyncpg.connect(
        user=url.username, host=url.host, port=url.port, database=url.database
    )
    try:
        ended = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            LISTENER_NAME,
        )
    finally:
        await connection.close()
    assert [row[0] for row in ended] == [True]
