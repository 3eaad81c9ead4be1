"""A real `tracker serve` process on a free port, for tests that need signals, workers or logs."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tracker.db.engine import create_engine, dialect_of

HEARD_WITHIN = 1.0  # SPEC §5: link changes reach every process and host within a second


async def answers(visitor: httpx.AsyncClient, slug: str, status: int) -> httpx.Response:
    """The first answer with ``status``, asked for until a second has passed."""
    deadline = time.monotonic() + HEARD_WITHIN
    while True:
        response = await visitor.get(f"/{slug}")
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, f"/{slug} still answers {response.status_code}"
        await asyncio.sleep(0.02)


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
    # Clicks written as they come, however busy the suite keeps the machine (conftest.py).
    env.update(TRACKER_CLICK_HOLD_SECONDS="0")
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
async def running(
    env: dict[str, str], tmp_path: Path, *args: str, host: str = "127.0.0.1",
    namespace: str | None = None,
) -> AsyncIterator[Server]:  # fmt: skip
    """`tracker serve` on ``host``, in the network namespace ``namespace`` if given."""
    port = free_port() if namespace is None else 8000
    log_path = tmp_path / f"serve-{host}-{port}.log"
    inside = ["ip", "netns", "exec", namespace] if namespace else []
    command = [sys.executable, "-m", "tracker", "serve", "--host", host, "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*inside, *command, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, as a service manager gives
        )  # fmt: skip
    server = Server(f"http://{host}:{port}", process, log_path)
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


def _pg_bin(tool: str) -> str:
    (found,) = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))[-1:]
    return found


class PrivatePostgres:
    """A PostgreSQL of the test's own (initdb in a temporary directory, pg_ctl on a free port),
    to stop and start at will: the machine's shared server is never touched. initdb refuses
    root, so it runs as the unprivileged `postgres` user."""

    def __init__(self, *addresses: str) -> None:
        """Listening on 127.0.0.1 and ``addresses`` (a test network's, say)."""
        self.addresses = ",".join(("127.0.0.1", *addresses))
        # Not under pytest's temporary directory: its parents are closed to other users.
        self.directory = directory = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.port = free_port()
        shutil.chown(directory, "postgres")
        self._as_postgres(_pg_bin("initdb"), "-D", str(directory / "data"), "-A", "trust",
                          "-U", "postgres")  # fmt: skip
        if addresses:  # clients on the subnets of those addresses, as on a LAN
            with (directory / "data" / "pg_hba.conf").open("a") as hba:
                hba.write("host all all samenet trust\n")
        self.url = self.url_at("127.0.0.1")

    def url_at(self, address: str) -> str:
        return f"postgresql+asyncpg://postgres@{address}:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={self.addresses}"
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.directory / "data"), "-o", options,
                          "-l", str(self.directory / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast",
                          "-w", "stop")  # fmt: skip


async def mint(
    http: httpx.AsyncClient, key: str, slug: str, url: str = "https://shop.example.com/"
) -> None:
    """A link on a running server, through its API."""
    created = await http.post(
        "/api/links", json={"url": url, "slug": slug}, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201, created.text


async def rows(database_url: str, query: str, **params: Any) -> list[Any]:
    """What ``query`` answers, on a connection of its own to a server's database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(text(query), params))
    finally:
        await engine.dispose()


async def count_clicks(database_url: str) -> int:
    ((count,),) = await rows(database_url, "SELECT count(*) FROM clicks")
    return int(count)
