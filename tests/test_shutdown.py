"""SIGTERM on a real `tracker serve` process writes every click it answered."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tracker.db import create_engine, create_sessionmaker
from tracker.models import Click

REDIRECTS = 400


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(database_url: str, spool: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    environment.update(
        TRACKER_DATABASE_URL=database_url,
        TRACKER_SPOOL_DIR=str(spool),
        # Nothing is written until shutdown, so the count below proves the drain.
        TRACKER_CLICK_FLUSH_INTERVAL="3600",
        TRACKER_CLICK_BATCH_SIZE="50000",
    )
    return environment


async def _count_clicks(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return (await session.scalar(select(func.count()).select_from(Click))) or 0
    finally:
        await engine.dispose()


class TestGracefulShutdown:
    async def test_every_answered_click_is_written(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        environment = _environment(clean_database, tmp_path / "spool")
        created = subprocess.run(
            [sys.executable, "-m", "tracker", "keys", "create", "--name", "shutdown"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=True,
        )
        key = created.stdout.splitlines()[-1]
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tracker", "serve", "--port", str(port)],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                for _ in range(200):
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
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
            assert await _count_clicks(clean_database) == 0  # all still queued in the server
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=60)
            # uvicorn re-raises the signal once its graceful shutdown has completed.
            assert server.returncode in (0, -signal.SIGTERM), output
            assert b"Application shutdown complete" in output
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        assert await _count_clicks(clean_database) == REDIRECTS
        assert not list((tmp_path / "spool").glob("*.jsonl"))
