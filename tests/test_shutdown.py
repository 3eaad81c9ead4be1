"""SIGTERM on a real `tracker serve` process writes every click it answered."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests import servers

REDIRECTS = 400


class TestGracefulShutdown:
    async def test_every_answered_click_is_written(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        # Nothing is written until shutdown, so the count below proves the drain.
        env = servers.environment(
            clean_database, tmp_path, click_flush_interval="3600", click_batch_size="50000"
        )
        key = servers.api_key(env)
        async with servers.running(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                response = await http.post(
                    "/api/links",
                    json={"url": "https://shop.example.com/", "slug": "sigterm"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert response.status_code == 201, response.text

                async def click() -> int:
                    return (
                        await http.get("/sigterm", headers={"User-Agent": "Mozilla/5.0"})
                    ).status_code

                statuses = []
                for _ in range(REDIRECTS // 20):
                    statuses += await asyncio.gather(*(click() for _ in range(20)))
                assert statuses == [302] * REDIRECTS
            assert await servers.count_clicks(clean_database) == 0  # all still queued in the server
            # uvicorn re-raises the signal once its graceful shutdown has completed.
            assert server.stop() in (0, -signal.SIGTERM), server.log()
            assert "Application shutdown complete" in server.log()
        assert await servers.count_clicks(clean_database) == REDIRECTS
        assert not list((tmp_path / "spool").glob("*.jsonl"))
