"""A real `tracker serve` process on a free port, for tests that need signals, workers or logs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tracker.db.engine import create_engine, create_sessionmaker, dialect_of
from tracker.models import Click


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, stop_signal: int = signal.SIGTERM, group: bool = False) -> int:
        """SIGTERM to the main process, as an orchestrator sends it, or ``stop_signal`` to the
        whole process group, as systemd, `kill -- -PGID` or a terminal's Ctrl-C do; the exit
        status once it is gone."""
        if group:
            os.killpg(self.process.pid, stop_signal)
        else:
            self.process.send_signal(stop_signal)
        return self.process.wait(timeout=60)


def environment(database_url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "PROMETHEUS_"))}
    env.update(TRACKER_DATABASE_URL=database_url, TRACKER_SPOOL_DIR=str(tmp_path / "spool"))
    env.update({f"TRACKER_{name.upper()}": value for name, value in settings.items()})
    return env


def api_key(env: dict[str, str]) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "tracker", "keys", "create", "--name", "server tests"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return created.stdout.splitlines()[-1]


def unreachable(database_url: str) -> str:
    """A URL of the same kind as ``database_url`` where no database answers."""
    if dialect_of(database_url) == "sqlite":
        return "sqlite+aiosqlite:////nonexistent-directory/tracker.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:9/tracker"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def running(env: dict[str, str], tmp_path: Path, *args: str) -> AsyncIterator[Server]:
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracker", "serve", "--port", str(port), *args],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, as a service manager gives
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            for _ in range(400):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"server did not start:\n{server.log()}")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def mint(
    http: httpx.AsyncClient, key: str, slug: str, url: str = "https://shop.example.com/"
) -> None:
    """A link on a running server, through its API."""
    created = await http.post(
        "/api/links", json={"url": url, "slug": slug}, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201, created.text


async def count_clicks(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return (await session.scalar(select(func.count()).select_from(Click))) or 0
    finally:
        await engine.dispose()
