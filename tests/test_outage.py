"""A published link never dies: a restart while the database is unreachable still redirects."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests import factories, servers
from tracker.db.engine import dialect_of


def _unreachable(database_url: str) -> str:
    if dialect_of(database_url) == "sqlite":
        return "sqlite+aiosqlite:////nonexistent-directory/tracker.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:9/tracker"


class TestRestartDuringAnOutage:
    async def test_links_served_before_are_served_and_their_clicks_kept(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        env = servers.environment(clean_database, tmp_path)
        key = servers.api_key(env)
        async with servers.running(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                created = await http.post(
                    "/api/links",
                    json={"url": "https://shop.example.com/kept", "slug": "kept"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert created.status_code == 201
                assert (await http.get("/kept")).status_code == 302
            assert server.stop() in (0, -signal.SIGTERM)
        assert (tmp_path / "spool" / "links.snapshot").exists()

        away = {**env, "TRACKER_DATABASE_URL": _unreachable(clean_database)}
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
        assert "database unreachable at start" in log and "Traceback" not in log

        async with servers.running(env, tmp_path):  # the database is back

            async def all_written() -> bool:
                return await servers.count_clicks(clean_database) == 3

            await factories.eventually(all_written, seconds=30)
