"""The journal and the writer lose nothing: outages wait on disk, dead processes are recovered."""

from __future__ import annotations

import ast
import asyncio
import marshal
import os
import re
import secrets
import struct
import subprocess
import sys
import zlib
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.types import Message

from tests import factories, platforms, servers
from tracker.clicks import journal
from tracker.clicks.figures import Figures
from tracker.clicks.headroom import Headroom, machine_ticks
from tracker.clicks.journal import ClickJournal
from tracker.clicks.record import ClickRecord
from tracker.clicks.writer import SET_ASIDE, ClickWriter, WriterSettings
from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db.driver import driver_errors, is_postgres
from tracker.main import create_app
from tracker.models import Click, Link, Order
from tracker.server.dispatch import TrackerApp
from tracker.server.writer_host import WriterThread, click_writer


def _clicks(link_id: int, count: int) -> list[ClickRecord]:
    return [
        factories.click_record(
            secrets.token_urlsafe(16),
            link_id,
            utcnow(),
            referrer="https://t.co/x",
            country="FR",
            query=(("utm_source", "ig"),),
        )
        for _ in range(count)
    ]


async def _link_id(app: TrackerApp, api: httpx.AsyncClient) -> int:
    await factories.create_link(api, slug="w")
    async with app.runtime.sessionmaker() as session:
        link = await session.get(Link, 1)
        assert link is not None
        return link.id


def _active(directory: Path) -> Path:
    (path,) = directory.glob(journal.ACTIVE_PATTERN)
    return path


class TestJournal:
    async def test_a_click_is_on_disk_after_one_turn_of_the_loop(self, tmp_path: Path) -> None:
        clicks = ClickJournal(tmp_path, seal_after=3600)
        await clicks.open()
        sent = _clicks(1, 3)
        for click in sent:
            clicks.append(click)
        assert journal.read_records(_active(tmp_path)) == []
        await asyncio.sleep(0)
        assert journal.read_records(_active(tmp_path)) == sent
        await clicks.close()
        (sealed,) = tmp_path.glob(journal.SEALED_PATTERN)
        assert journal.sealed_count(sealed) == 3
        assert journal.read_records(sealed) == sent
        assert not list(tmp_path.glob(journal.ACTIVE_PATTERN))

    async def test_a_redirect_answers_once_its_click_is_in_the_file(
        self, settings: Settings
    ) -> None:
        app = create_app(settings.model_copy(update={"click_flush_interval": 3600}))
        answered: list[tuple[str, set[str]]] = []  # each answer's click id, the ids in the file

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                location = dict(message["headers"])[b"location"].decode()
                clicks = journal.read_records(_active(settings.spool_dir))
                answered.append((location[-24:], {click.id for click in clicks}))

        async def receive() -> Message:
            return {"type": "http.disconnect"}

        async with app.lifespan(), factories.api_client(app) as api:
            await factories.create_link(api, slug="j")
            scope = {
                "type": "http", "method": "GET", "path": "/j", "query_string": b"",
                "headers": [], "client": ("203.0.113.9", 5000),
            }  # fmt: skip
            await asyncio.gather(*(app(dict(scope), receive, send) for _ in range(3)))
        assert len(answered) == 3
        assert all(click_id in in_file for click_id, in_file in answered)

    @pytest.mark.parametrize("looked_up", [False, True], ids=["in memory", "looked up"])
    async def test_a_redirect_cancelled_while_its_turn_is_written_cancels_no_other(
        self, app: TrackerApp, api: httpx.AsyncClient, looked_up: bool
    ) -> None:
        """Servers cancel the request of a client that went away; its turn's others go on,
        and so do those that wait with it for the database to find their link."""
        await factories.create_link(api, slug="c")
        statuses: list[int] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def receive() -> Message:
            return {"type": "http.disconnect"}

        scope = {
            "type": "http", "method": "GET", "path": "/c", "query_string": b"",
            "headers": [], "client": ("203.0.113.9", 5000),
        }  # fmt: skip
        await app(dict(scope), receive, send)  # the link is in memory from now on
        if looked_up:
            app.runtime.link_cache.forget("c")  # all three wait for the same lookup
        requests = [asyncio.create_task(app(dict(scope), receive, send)) for _ in range(3)]
        await asyncio.sleep(0)  # all three have journaled their click and wait for the write
        requests[0].cancel()
        outcomes = await asyncio.gather(*requests, return_exceptions=True)
        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert outcomes[1:] == [None, None]
        assert statuses == [302, 302, 302]
        # A click journaled before its request was cancelled is kept; one still waiting for
        # its link never was.
        assert len(await factories.clicks(app)) == (3 if looked_up else 4)

    async def test_a_torn_frame_ends_the_reading_and_keeps_what_came_before(
        self, tmp_path: Path
    ) -> None:
        clicks = ClickJournal(tmp_path, seal_after=3600)
        await clicks.open()
        first, second = _clicks(1, 3), _clicks(1, 2)
        for batch in (first, second):
            for click in batch:
                clicks.append(click)
            await asyncio.sleep(0)  # one frame each
        path = _active(tmp_path)
        data = path.read_bytes()
        path.write_bytes(data[:-5])  # a machine crash in the middle of the second write
        assert journal.read_records(path) == first
        await clicks.close()

    async def test_the_file_seals_itself_after_click_flush_interval(self, tmp_path: Path) -> None:
        clicks = ClickJournal(tmp_path, seal_after=0.05)
        await clicks.open()
        clicks.append(_clicks(1, 1)[0])

        async def sealed() -> bool:
            return journal.waiting(tmp_path) == 1

        await factories.eventually(sealed)
        assert clicks.unwritten == 0
        await clicks.close()

    async def test_the_open_file_of_a_killed_process_is_written(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        link_id = await _link_id(app, api)
        killed = (
            "import asyncio, os, signal, sys\n"
            "from pathlib import Path\n"
            "from tracker.clicks.journal import ClickJournal\n"
            "from tracker.clicks.record import ClickRecord\n"
            "async def main():\n"
            "    clicks = ClickJournal(Path(sys.argv[1]), seal_after=3600)\n"
            "    await clicks.open()\n"
            "    for n in range(25):\n"
            "        clicks.append(\n"
            "            ClickRecord(f'killed-{n}', int(sys.argv[2]), 1_764_000_000_000_000,\n"
            "                        'Mozilla/5.0', None, 'h', None, None)\n"
            "        )\n"
            "    await asyncio.sleep(0)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "asyncio.run(main())\n"
        )
        process = subprocess.run(
            [sys.executable, "-c", killed, str(settings.spool_dir), str(link_id)], check=False
        )
        assert process.returncode == -9  # it never sealed its file: only the writer can have
        written = await factories.clicks(app)
        assert sorted(click.id for click in written) == sorted(f"killed-{n}" for n in range(25))
        assert not list(settings.spool_dir.glob(journal.SEALED_PATTERN))

    async def test_a_file_that_is_not_a_journal_is_set_aside_not_retried(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        link_id = await _link_id(app, api)
        stray = settings.spool_dir / journal.sealed_name(1, 1)
        stray.write_bytes(b"not a journal")
        (click,) = _clicks(link_id, 1)
        app.runtime.journal.append(click)
        assert [written.id for written in await factories.clicks(app)] == [click.id]
        assert not stray.exists()
        assert stray.with_name(stray.name + SET_ASIDE).read_bytes() == b"not a journal"

    async def test_a_journal_of_an_unknown_version_is_set_aside_not_misread(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        """A newer Tracker's file, left behind by a downgrade: its layout is not guessed."""
        link_id = await _link_id(app, api)
        (click,) = _clicks(link_id, 1)
        payload = marshal.dumps([(*click, "a field of version 3")])
        frame = struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
        newer = settings.spool_dir / journal.sealed_name(1, 1)
        newer.write_bytes(b"tracker-clicks/3\n" + frame)
        with pytest.raises(journal.NotAJournal, match="version 3"):
            journal.read_records(newer)
        assert await factories.clicks(app) == []
        assert newer.with_name(newer.name + SET_ASIDE).exists()

    async def test_a_version_1_journal_left_by_the_last_release_is_written(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        """Version 1 had no bot_signal: its clicks are read with none and written."""
        link_id = await _link_id(app, api)
        (click,) = _clicks(link_id, 1)
        payload = marshal.dumps([tuple(click)[:-1]])
        frame = struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
        older = settings.spool_dir / journal.sealed_name(1, 1)
        older.write_bytes(b"tracker-clicks/1\n" + frame)
        assert journal.read_records(older) == [click._replace(bot_signal=None)]
        assert [stored.id for stored in await factories.clicks(app)] == [click.id]


class TestOutage:
    async def test_clicks_wait_in_the_journal_until_the_database_is_back(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        link_id = await _link_id(app, api)
        await app.runtime.click_writer.stop()  # type: ignore[union-attr]
        unreachable = settings.model_copy(
            update={"database_url": servers.unreachable(settings.database_url)}
        )
        away = WriterThread(click_writer(WriterSettings.of(unreachable)))
        away.start()
        sent = _clicks(link_id, 12)
        for click in sent:
            app.runtime.journal.append(click)
        await app.runtime.journal.seal()
        with pytest.raises(driver_errors(is_postgres(settings.database_url))):
            await away.flush()
        assert journal.waiting(settings.spool_dir) == 12
        await away.stop()  # the database is still away at shutdown: the files stay

        back = WriterThread(click_writer(WriterSettings.of(settings)))
        back.start()
        await back.flush()
        await back.stop()
        assert {click.id for click in await factories.rows(app, Click)} == {c.id for c in sent}
        assert journal.waiting(settings.spool_dir) == 0

    async def test_a_replay_after_a_half_finished_write_adds_no_duplicates(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        link_id = await _link_id(app, api)
        batch = _clicks(link_id, 3)
        for _ in range(2):
            for click in batch:
                app.runtime.journal.append(click)
            await factories.flush_clicks(app)
        assert await factories.count(app, Click) == 3


class _Machine:
    """Processor ticks as /proc/stat counts them, for a machine the test makes busy or idle."""

    def __init__(self) -> None:
        self.busy = True
        self.idle = self.total = 0

    def ticks(self) -> tuple[int, int]:
        # Two cores for 50 ticks each since the last reading: 10 or 90 of the 100 idle.
        self.idle += 10 if self.busy else 90
        self.total += 100
        return self.idle, self.total


class TestHolding:
    """While redirects keep the processors busy, the writer leaves their clicks in the
    journal (headroom.py), for at most TRACKER_CLICK_HOLD_SECONDS."""

    @pytest.mark.parametrize(
        ("cores", "idle", "total", "busy"),
        [(2, 40, 200, True), (2, 110, 200, False), (1, 40, 100, True), (1, 60, 100, False)],
    )
    def test_busy_is_less_than_a_core_idle_or_half_of_one_core(
        self, tmp_path: Path, cores: int, idle: int, total: int, busy: bool
    ) -> None:
        stat = tmp_path / "stat"
        stat.write_text("cpu  600 10 200 1000 100 5 5 0 0 0\ncpu0 300 5 100 500 50 2 3 0 0 0\n")
        headroom = Headroom(lambda: machine_ticks(stat), cores=cores)
        # Idle time grows in the idle and iowait columns; the total in the first eight.
        stat.write_text(f"cpu  {600 + total - idle} 10 200 {1000 + idle} 100 5 5 0 0 0\n")
        assert headroom.busy() is busy
        assert headroom.busy() is False  # nothing counted since: nothing to go by

    def test_a_machine_without_proc_stat_never_holds(self, tmp_path: Path) -> None:
        assert machine_ticks(tmp_path / "missing") is None
        (tmp_path / "odd").write_text("intr 12 0 0\n")
        assert machine_ticks(tmp_path / "odd") is None
        assert Headroom(lambda: machine_ticks(tmp_path / "missing")).busy() is False

    async def test_clicks_wait_while_busy_redirects_come_for_at_most_the_hold(
        self,
        app: TrackerApp,
        api: httpx.AsyncClient,
        client: httpx.AsyncClient,
        settings: Settings,
    ) -> None:
        link_id = await _link_id(app, api)
        await app.runtime.click_writer.stop()  # type: ignore[union-attr]
        held = settings.model_copy(update={"click_hold_seconds": 60.0})
        machine, now = _Machine(), [0]
        figures = Figures(settings.spool_dir)
        writer = WriterThread(
            ClickWriter(
                WriterSettings.of(held),
                figures,
                headroom=Headroom(machine.ticks, cores=2),
                now_ns=lambda: now[0],
            )
        )
        writer.start()
        second = 1_000_000_000

        async def written() -> int:
            return await factories.count(app, Click)

        async def journaled(count: int) -> Path:
            """``count`` clicks in a sealed file, and the clock at its sealing."""
            for click in _clicks(link_id, count):
                app.runtime.journal.append(click)
            await app.runtime.journal.seal()
            path = max(settings.spool_dir.glob(journal.SEALED_PATTERN), key=journal.sealed_at)
            now[0] = journal.sealed_at(path)
            return path

        async def held_a_while() -> None:
            before = figures.held_seconds
            await factories.eventually(lambda: _true(figures.held_seconds >= before + 0.5))

        await journaled(3)
        await held_a_while()
        assert await written() == 0 and journal.waiting(settings.spool_dir) == 3
        now[0] += 2 * second  # no file sealed for two seconds: the redirects stopped
        await factories.eventually(lambda: _equal(written(), 3))

        first = await journaled(2)
        await journaled(1)
        await held_a_while()
        # Still coming, but the first has waited a minute: the hold is over, busy or not.
        old = first.name.replace(f"-{journal.sealed_at(first)}-", f"-{now[0] - 61 * second}-")
        first.rename(first.with_name(old))
        await factories.eventually(lambda: _equal(written(), 6))

        machine.busy = False  # an idle machine: written as they come
        await journaled(2)
        await factories.eventually(lambda: _equal(written(), 8))

        machine.busy = True
        await journaled(4)
        await held_a_while()
        assert await written() == 8
        await writer.stop()  # shutdown writes what was held
        assert await written() == 12 and journal.waiting(settings.spool_dir) == 0
        metrics = (await client.get("/metrics")).text
        seconds = re.search(r"^tracker_click_writer_held_seconds_total (\S+)$", metrics, re.M)
        assert seconds is not None and float(seconds[1]) == figures.held_seconds >= 1.5


async def _true(value: bool) -> bool:
    return value


async def _equal(count: Awaitable[int], expected: int) -> bool:
    return await count == expected


class TestTheWritersProcess:
    @pytest.mark.parametrize(
        ("nice", "policy", "niceness"), [(None, os.SCHED_IDLE, 0), ("5", os.SCHED_OTHER, 5)]
    )
    async def test_it_takes_only_the_processor_time_redirects_leave(
        self, nice: str | None, policy: int, niceness: int, tmp_path: Path
    ) -> None:
        """By default SCHED_IDLE: a redirect waking up takes the processor from it at once
        (bench/README.md); a nice value instead when one is set."""
        settings = {} if nice is None else {"click_writer_nice": nice}
        env = servers.environment(f"sqlite:///{tmp_path / 't.db'}", tmp_path, **settings)
        async with servers.running(env, tmp_path) as server:
            (writer,) = [
                int(child)
                for task in Path(f"/proc/{server.process.pid}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
            seen = (os.sched_getscheduler(writer), os.getpriority(os.PRIO_PROCESS, writer))
            assert server.stop() in (0, -15), server.log()
        assert seen == (policy, niceness)

    def test_its_settings_arrive_as_the_server_read_them(self, tmp_path: Path) -> None:
        read = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url="postgresql+asyncpg://tracker:s3cret@db.internal:5433/tracker",
            spool_dir=tmp_path / "spool",
            report_timezone="Europe/Berlin",
            click_batch_size=123,
            click_flush_interval=0.5,
            click_hold_seconds=12.5,
            click_retention_days=40,
            attribution_window_days=7,
            click_writer_nice=3,
            log_level="WARNING",
        )
        handed = WriterSettings.of(read)
        assert WriterSettings.from_json(handed.to_json()) == handed
        assert (handed.spool_dir, handed.retention_days, handed.nice) == (read.spool_dir, 40, 3)
        assert handed.hold_seconds == 12.5
        forever = WriterSettings.of(read.model_copy(update={"click_retention_days": None}))
        assert WriterSettings.from_json(forever.to_json()).retention_days is None

    async def test_it_writes_without_sqlalchemy_until_an_order_waits_for_a_click(
        self, app: TrackerApp, api: httpx.AsyncClient, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        """Each library below would be memory the writer's process keeps (bench/README.md):
        its settings come read, it serves no HTTP, the serving processes turn its figures
        into metrics, and its statements go to the driver (db/driver.py). Only an
        order that waits for a click it writes loads SQLAlchemy, to credit it."""
        link_id = await _link_id(app, api)
        spool = tmp_path / "writer-process"
        handed = WriterSettings.of(app.runtime.settings.model_copy(update={"spool_dir": spool}))
        postgres = is_postgres(handed.database_url)

        async def one_pass(records: list[ClickRecord]) -> list[str]:
            clicks = ClickJournal(spool, seal_after=3600)
            await clicks.open()
            for record in records:
                clicks.append(record)
            await clicks.close()
            code = (
                "import asyncio, sys\n"
                "from tracker.clicks.writer import WriterSettings\n"
                "from tracker.server.writer_host import click_writer\n"
                "handed = WriterSettings.from_json(sys.stdin.readline())\n"
                "stopping = asyncio.Event()\n"
                "stopping.set()  # at once: the last pass alone writes what waits\n"
                "asyncio.run(click_writer(handed).run(stopping))\n"
                "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', "
                "'pydantic_settings', 'fastapi', 'starlette', 'jinja2', 'alembic', "
                "'prometheus_client', 'sqlalchemy', 'asyncpg'}))\n"
            )
            ran = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", code],
                input=handed.to_json() + "\n",
                capture_output=True,
                text=True,
            )
            assert ran.returncode == 0, ran.stderr
            return ast.literal_eval(ran.stdout)

        driver = ["asyncpg"] if postgres else []
        assert await one_pass(_clicks(link_id, 3)) == driver
        assert await factories.count(app, Click) == 3

        late = "click-written-by-the-process"
        order = {"order_id": "w1", "amount": "30.00", "currency": "EUR", "status": "paid"}
        placed = await platforms.generic(
            client, {**order, "occurred_at": utcnow().isoformat(), "click_id": late}
        )
        assert placed.status_code == 200, placed.text
        record = factories.click_record(late, link_id, utcnow() - timedelta(minutes=1))
        assert await one_pass([record]) == [*driver, "sqlalchemy"]
        (order,) = await factories.rows(app, Order)
        assert (order.attribution, order.attributed_click_id) == ("click", late)
