"""A published link never dies: a restart while the database is unreachable still redirects."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx

from tests import factories, platforms, servers


class TestRestartDuringAnOutage:
    async def test_links_served_before_are_served_and_their_clicks_kept(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        env = servers.environment(clean_database, tmp_path)
        key = servers.api_key(env)
        async with servers.running(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                await servers.mint(http, key, "kept", "https://shop.example.com/kept")
                assert (await http.get("/kept")).status_code == 302
            assert server.stop() in (0, -signal.SIGTERM)
        assert (tmp_path / "spool" / "links.snapshot").exists()

        away = {**env, "TRACKER_DATABASE_URL": servers.unreachable(clean_database)}
        async with servers.running(away, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                for _ in range(2):
                    served = await http.get("/kept", headers={"User-Agent": "Mozilla/5.0"})
                    assert served.status_code == 302
                    assert served.headers["location"].startswith("https://shop.example.com/kept?")
                never_seen = await http.get("/never-seen")
                assert (never_seen.status_code, never_seen.headers["retry-after"]) == (503, "5")
                ready = await http.get("/readyz")
                assert ready.status_code == 200 and ready.json()["database"] == "unreachable"
            assert server.stop() in (0, -signal.SIGTERM)
        log = server.log()
        assert "database unreachable at start" in log
        # No traceback through our code. (aiosqlite's worker thread may print one at exit when
        # a connection it was opening failed after its loop closed: a library's noise.)
        assert "tracker/" not in "".join(re.findall(r'File \\?"([^"\\]+)', log))

        async with servers.running(env, tmp_path):  # the database is back

            async def all_written() -> bool:
                return await servers.count_clicks(clean_database) == 3

            await factories.eventually(all_written, seconds=30)


class TestPostgresOutage:
    async def test_an_outage_with_a_restart_inside_loses_and_doubles_nothing(
        self, tmp_path: Path
    ) -> None:
        """Redirects and webhooks before, during and after a PostgreSQL outage, Tracker restarted
        in the middle of it: every answered redirect has its click, every 2xx webhook its
        order, nothing twice."""
        database = servers.PrivatePostgres()
        database.start()
        try:
            await self._through_an_outage(database, tmp_path)
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                database.stop()
            shutil.rmtree(database.directory, ignore_errors=True)

    async def _through_an_outage(self, database: servers.PrivatePostgres, tmp_path: Path) -> None:
        env = servers.environment(
            database.url, tmp_path, webhook_secret=platforms.WEBHOOK_SECRET, log_level="WARNING"
        )
        key = servers.api_key(env)
        answered, accepted = 0, set()

        async def load(server: servers.Server, redirects: int, orders: list[str]) -> None:
            nonlocal answered
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                for _ in range(redirects // 10):
                    statuses = await asyncio.gather(*(http.get("/held") for _ in range(10)))
                    assert {s.status_code for s in statuses} == {302}
                    answered += len(statuses)
                for order_id in orders:
                    body = {"order_id": order_id, "amount": "9.90", "currency": "EUR",
                            "occurred_at": "2026-11-20T12:00:00Z", "status": "paid"}  # fmt: skip
                    answer = await platforms.generic(http, body)
                    assert answer.status_code in (200, 503), answer.text
                    if answer.status_code == 200:
                        accepted.add(order_id)
                    else:
                        assert answer.headers["retry-after"] == "5"

        async with servers.running(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                await servers.mint(http, key, "held")
            await load(server, 100, ["up-1", "up-2"])
            database.stop()
            await load(server, 100, ["down-1", "down-2"])
            assert server.stop() in (0, -signal.SIGTERM)  # inside the outage
        async with servers.running(env, tmp_path) as server:  # started without its database
            await load(server, 50, ["down-3"])
            database.start()
            await load(server, 50, ["back-1", "back-2"])

            async def caught_up() -> bool:
                return await servers.count_clicks(database.url) == answered

            await factories.eventually(caught_up, seconds=60)
        assert answered == 300
        assert accepted == {"up-1", "up-2", "back-1", "back-2"}
        orders = await servers.rows(database.url, "SELECT external_id FROM orders")
        assert sorted(row[0] for row in orders) == sorted(accepted)
