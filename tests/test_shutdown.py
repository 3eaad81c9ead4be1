"""A real `tracker serve` process writes every click it answered: on SIGTERM, and after SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests import factories, servers

REDIRECTS = 400
CONCURRENT = 20


@asynccontextmanager
async def _answered(clean_database: str, tmp_path: Path) -> AsyncIterator[servers.Server]:
    """A server that answered REDIRECTS redirects and has written none of their clicks yet."""
    # Sealed and written only at shutdown, so the counts afterwards prove the drain.
    env = servers.environment(
        clean_database, tmp_path, click_flush_interval="3600", click_batch_size="50000"
    )
    key = servers.api_key(env)
    async with servers.running(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            await servers.mint(http, key, "answered")

            async def click() -> int:
                return (
                    await http.get("/answered", headers={"User-Agent": "Mozilla/5.0"})
                ).status_code

            statuses = []
            for _ in range(REDIRECTS // 20):
                statuses += await asyncio.gather(*(click() for _ in range(20)))
            assert statuses == [302] * REDIRECTS
        assert await servers.count_clicks(clean_database) == 0  # all still journaled
        yield server


class TestGracefulShutdown:
    @pytest.mark.parametrize(
        ("stop_signal", "group"),
        [
            (signal.SIGTERM, False),  # an orchestrator signalling the main process
            (signal.SIGTERM, True),  # systemd's default, `kill -- -PGID`, container runtimes
            (signal.SIGINT, True),  # Ctrl-C in a terminal
        ],
        ids=["sigterm-main", "sigterm-group", "sigint-group"],
    )
    async def test_every_answered_click_is_written_before_exit(
        self, clean_database: str, tmp_path: Path, stop_signal: int, group: bool
    ) -> None:
        async with _answered(clean_database, tmp_path) as server:
            # uvicorn re-raises the signal once its graceful shutdown has completed.
            assert server.stop(stop_signal, group) in (0, -stop_signal), server.log()
            assert "Application shutdown complete" in server.log()
            # Counted once `tracker serve` has exited: nothing is left for a next start.
            assert await servers.count_clicks(clean_database) == REDIRECTS, server.log()
        assert not list((tmp_path / "spool").glob("*.journal"))

    async def test_a_stop_in_the_first_moments_writes_what_was_answered(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        """Stopped as soon as it answers: the writer may not be up yet; it runs for the stop."""
        env = servers.environment(clean_database, tmp_path)
        key = servers.api_key(env)
        async with servers.running(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                await servers.mint(http, key, "early")
                assert (await http.get("/early")).status_code == 302
            assert server.stop(signal.SIGTERM, group=True) in (0, -signal.SIGTERM)
            assert await servers.count_clicks(clean_database) == 1, server.log()


class TestKilled:
    async def test_clicks_answered_before_sigkill_are_written(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        """The journal holds what the killed process answered; its orphaned writer writes it."""
        async with _answered(clean_database, tmp_path) as server:
            server.process.kill()  # the main process only: its writer sees its input close
            server.process.wait()

            async def written() -> bool:
                count = await servers.count_clicks(clean_database)
                return count == REDIRECTS and not list((tmp_path / "spool").glob("*.journal"))

            await factories.eventually(written, seconds=30)


class TestEveryProcessKilled:
    @pytest.mark.parametrize("write", ["async", "sync"])
    async def test_a_kill_of_the_whole_group_under_load_loses_and_doubles_nothing(
        self, clean_database: str, tmp_path: Path, write: str
    ) -> None:
        """kill -9 of `tracker serve` and its writer at once, mid-load, then a restart: every
        answered click is written once (a few more may be: journaled, then killed unanswered)."""
        env = servers.environment(clean_database, tmp_path, click_write=write, log_level="WARNING")
        key = servers.api_key(env)
        answered = 0
        async with servers.running(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                await servers.mint(http, key, "load")

                async def click() -> bool:
                    try:
                        return (await http.get("/load")).status_code == 302
                    except httpx.TransportError:
                        return False  # in flight when the processes died: not answered

                for round_number in range(30):
                    if round_number == 20:
                        os.killpg(server.process.pid, signal.SIGKILL)
                    answered += sum(await asyncio.gather(*(click() for _ in range(CONCURRENT))))
            server.process.wait()
        assert 20 * CONCURRENT <= answered < 30 * CONCURRENT

        async with servers.running(env, tmp_path) as restarted:

            async def all_written() -> bool:
                return await servers.count_clicks(clean_database) >= answered

            await factories.eventually(all_written, seconds=30)
            assert restarted.stop() in (0, -signal.SIGTERM)
        written = await servers.count_clicks(clean_database)
        assert answered <= written <= answered + CONCURRENT
        assert not list((tmp_path / "spool").glob("*.journal"))
