"""Two hosts on one PostgreSQL (SPEC §2, §5): two `tracker serve`, each in a network namespace
of its own that reaches the database over a veth pair, as two machines on a network would,
each with its own journal directory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests import factories, platforms, servers


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str  # the host's own, inside its namespace
    gateway: str  # the machine's end of the veth pair, where the database listens


def _ip(*args: str, namespace: str | None = None) -> None:
    inside = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*inside, "ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def two_hosts() -> Iterator[tuple[Host, Host]]:
    tag = secrets.token_hex(2)
    subnet = 2 * secrets.randbelow(100)
    hosts = []
    try:
        for i in range(2):
            host = Host(f"trk{tag}{i}", f"10.213.{subnet + i}.2", f"10.213.{subnet + i}.1")
            hosts.append(host)
            veth = f"trk{tag}{i}"
            _ip("netns", "add", host.namespace)
            _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
            _ip("link", "set", f"{veth}p", "netns", host.namespace)
            _ip("addr", "add", f"{host.gateway}/24", "dev", veth)
            _ip("link", "set", veth, "up")
            _ip("addr", "add", f"{host.address}/24", "dev", f"{veth}p", namespace=host.namespace)
            _ip("link", "set", f"{veth}p", "up", namespace=host.namespace)
            _ip("link", "set", "lo", "up", namespace=host.namespace)
        yield hosts[0], hosts[1]
    finally:
        for host in hosts:  # deleting the namespace deletes the veth pair with it
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, check=False)


async def _clicks(
    http: httpx.AsyncClient, slug: str, count: int, answered: list[str] | None = None
) -> list[str]:
    """Click ids of ``count`` clicks, ten at a time, added to ``answered`` as they come; stops
    at the first failure (a dead host)."""
    answered = [] if answered is None else answered
    person = {"User-Agent": factories.IPHONE, **factories.BROWSER_HEADERS}
    for _ in range(count // 10):
        try:
            responses = await asyncio.gather(
                *(http.get(f"/{slug}", headers=person) for _ in range(10))
            )
        except httpx.TransportError:
            return answered
        for response in responses:
            assert response.status_code == 302, response.text
            answered += parse_qs(urlsplit(response.headers["location"]).query)["tclid"]
    return answered


async def _people(http: httpx.AsyncClient, slug: str, count: int) -> list[int]:
    person = {"User-Agent": factories.IPHONE, **factories.BROWSER_HEADERS}
    return [(await http.get(f"/{slug}", headers=person)).status_code for _ in range(count)]


async def _scalar(database_url: str, query: str) -> int:
    ((value,),) = await servers.rows(database_url, query)
    return int(value or 0)


async def _click_ids(database_url: str, slug: str) -> set[str]:
    query = "SELECT clicks.id FROM clicks JOIN links ON links.id = clicks.link_id" \
            " WHERE links.slug = :slug"  # fmt: skip
    return {row[0] for row in await servers.rows(database_url, query, slug=slug)}


class TestTwoHosts:
    async def test_share_links_limits_and_clicks_through_a_kill(self, tmp_path: Path) -> None:
        with two_hosts() as (a, b):
            database = servers.PrivatePostgres(a.gateway, b.gateway)
            database.start()
            try:
                await self._two_hosts(a, b, database, tmp_path)
            finally:
                with contextlib.suppress(subprocess.CalledProcessError):
                    database.stop()
                shutil.rmtree(database.directory, ignore_errors=True)

    async def _two_hosts(
        self, a: Host, b: Host, database: servers.PrivatePostgres, tmp_path: Path
    ) -> None:
        envs = {}
        for host in (a, b):
            (tmp_path / host.namespace).mkdir()
            envs[host] = servers.environment(
                database.url_at(host.gateway), tmp_path / host.namespace,
                webhook_secret=platforms.WEBHOOK_SECRET, log_level="WARNING",
            )  # fmt: skip
        key = servers.api_key(envs[a])
        admin = {"Authorization": f"Bearer {key}"}

        def serve(host: Host) -> contextlib.AbstractAsyncContextManager[servers.Server]:
            return servers.running(
                envs[host], tmp_path / host.namespace, host=host.address, namespace=host.namespace
            )

        async with serve(a) as on_a, serve(b) as on_b:
            http_a = httpx.AsyncClient(base_url=on_a.base_url, timeout=10)
            http_b = httpx.AsyncClient(base_url=on_b.base_url, timeout=10)
            async with http_a, http_b:
                await servers.mint(http_a, key, "spring")
                ids = await _clicks(http_a, "spring", 50) + await _clicks(http_b, "spring", 50)

                # Each host takes the order of a click the other one answered.
                for http, click_id in ((http_b, ids[0]), (http_a, ids[-1])):
                    order = {"order_id": f"order-{click_id}", "amount": "19.90",
                             "currency": "EUR", "occurred_at": platforms.now(),
                             "status": "paid", "click_id": click_id}  # fmt: skip
                    answer = await platforms.generic(http, order)
                    assert answer.status_code == 200, answer.text

                # Disabled through one host, gone on the other within a second; and back.
                await http_a.patch("/api/links/spring", json={"disabled": True}, headers=admin)
                await servers.answers(http_b, "spring", 410)
                await http_b.patch("/api/links/spring", json={"disabled": False}, headers=admin)
                await servers.answers(http_a, "spring", 302)

                # A limit of 100 people, asked for by turns on both hosts: 100 get through.
                limited = {"url": "https://shop.example.com/", "slug": "first100",
                           "max_clicks": 100}  # fmt: skip
                created = await http_b.post("/api/links", json=limited, headers=admin)
                assert created.status_code == 201, created.text
                turns = [await _people(http, "first100", 1) for _ in range(75)
                         for http in (http_a, http_b)]  # fmt: skip
                assert sum(turn.count(302) for turn in turns) == 100

                # Host b killed with SIGKILL, writer and all, in the middle of a load.
                limited["slug"], limited["max_clicks"] = "first60", 60
                created = await http_a.post("/api/links", json=limited, headers=admin)
                assert created.status_code == 201, created.text
                let_through = (await _people(http_b, "first60", 30)).count(302)
                answered: list[str] = []
                load = asyncio.create_task(_clicks(http_b, "spring", 2000, answered))

                async def under_way() -> bool:
                    return len(answered) >= 200

                await factories.eventually(under_way, seconds=30)
                os.killpg(on_b.process.pid, signal.SIGKILL)
                ids += await load
            assert on_b.process.wait(timeout=30) == -signal.SIGKILL

        async with serve(b) as on_b, httpx.AsyncClient(base_url=on_b.base_url) as http_b:
            let_through += (await _people(http_b, "first60", 60)).count(302)

            async def all_written() -> bool:
                return set(ids) <= await _click_ids(database.url, "spring")

            await factories.eventually(all_written, seconds=60)
            assert on_b.stop() in (0, -signal.SIGTERM)

        assert 60 - 3 <= let_through <= 60  # a killed host loses its unspent block: at most 3
        written = await _click_ids(database.url, "spring")
        assert len(set(ids)) == len(ids) >= 300  # the kill came once the load was under way
        assert set(ids) <= written  # every answered click, the killed host's included
        # Besides: one click of the checks for a change heard, and at most the ten of the
        # batch whose answers the kill cut off, journaled but never received.
        assert len(written - set(ids)) <= 11
        totals = "SELECT sum(clicks + bot_clicks) FROM click_days"
        assert await _scalar(database.url, totals) == await _scalar(
            database.url, "SELECT count(*) FROM clicks"
        )
        assert await _scalar(database.url, "SELECT count(*) FROM orders") == 2
