"""The click writer loses nothing: outages spill to the disk spool, which is replayed later."""

from __future__ import annotations

import gc
import secrets

import httpx

from tests import factories
from tracker.clicks.writer import ClickWriter, PendingClick
from tracker.config import Settings
from tracker.db import utcnow
from tracker.main import TrackerApp
from tracker.models import Click, Link


def _unreachable(settings: Settings) -> str:
    """A URL of the same kind as the test database, where no database answers."""
    if settings.is_sqlite:
        return "sqlite+aiosqlite:////nonexistent-directory/tracker.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:9/nothing"


def _clicks(link_id: int, count: int) -> list[PendingClick]:
    return [
        PendingClick(
            id=secrets.token_urlsafe(16),
            link_id=link_id,
            clicked_at=utcnow(),
            user_agent=factories.IPHONE,
            referrer="https://t.co/x",
            visitor_hash="0" * 32,
            country="FR",
            query=None,
        )
        for _ in range(count)
    ]


async def _link_id(app: TrackerApp, api: httpx.AsyncClient) -> int:
    await factories.create_link(api, slug="w")
    async with app.runtime.sessionmaker() as session:
        link = await session.get(Link, 1)
        assert link is not None
        return link.id


class TestOutage:
    async def test_clicks_over_the_memory_limit_are_spooled_and_replayed(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        link_id = await _link_id(app, api)
        writer = ClickWriter(
            settings.model_copy(
                update={"click_memory_limit": 5, "database_url": _unreachable(settings)}
            )
        )
        writer.start()
        sent = _clicks(link_id, 12)
        for click in sent:
            writer.enqueue(click)

        async def spooled() -> bool:
            return writer.queued == 0

        await factories.eventually(spooled)
        await writer.stop()

        # The healthy app's writer finds the spool and writes it; the files go.
        async def replayed() -> bool:
            written = await factories.count(app, Click) == 12
            return written and not list(settings.spool_dir.glob("*"))  # the file goes last

        await factories.eventually(replayed)
        assert {click.id for click in await factories.clicks(app)} == {c.id for c in sent}

    async def test_shutdown_during_an_outage_spools_the_queue(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        link_id = await _link_id(app, api)
        await app.runtime.click_writer.stop()  # keep the healthy writer from replaying meanwhile
        writer = ClickWriter(settings.model_copy(update={"database_url": _unreachable(settings)}))
        writer.start()
        for click in _clicks(link_id, 7):
            writer.enqueue(click)
        await writer.stop()
        (spool,) = settings.spool_dir.glob("clicks-*.jsonl")
        lines = spool.read_text().splitlines()
        assert len(lines) == 7
        assert all(PendingClick.from_json(line).country == "FR" for line in lines)
        # The next process start replays it.
        replaying = ClickWriter(settings)
        replaying.start()

        async def replayed() -> bool:
            return await factories.count(app, Click) == 7

        await factories.eventually(replayed)
        await replaying.stop()
        assert not spool.exists()

    async def test_a_replay_after_a_half_finished_write_adds_no_duplicates(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        link_id = await _link_id(app, api)
        writer = app.runtime.click_writer
        batch = _clicks(link_id, 3)
        for click in batch:
            writer.enqueue(click)
        await writer.flush()
        for click in batch:
            writer.enqueue(click)
        await writer.flush()
        assert await factories.count(app, Click) == 3


class TestOverload:
    async def test_clicks_faster_than_the_database_spill_to_disk_and_all_arrive(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        """Memory stays bounded by click_memory_limit even while the database is healthy."""
        link_id = await _link_id(app, api)
        await app.runtime.click_writer.stop()
        writer = ClickWriter(
            settings.model_copy(update={"click_memory_limit": 3, "click_batch_size": 2})
        )
        writer.start()
        sent = _clicks(link_id, 40)
        for click in sent:
            writer.enqueue(click)
        await writer.flush()
        await writer.stop()
        assert {click.id for click in await factories.clicks(app)} == {c.id for c in sent}
        assert not list(settings.spool_dir.glob("*.jsonl"))


class TestPendingClick:
    def test_a_spool_line_of_an_earlier_version_still_reads(self) -> None:
        """Spool files outlive upgrades: the query was a JSON object before it was pairs."""
        line = (
            '{"id":"a","link_id":1,"clicked_at":"2026-11-22T10:00:00+00:00","user_agent":"u",'
            '"referrer":null,"visitor_hash":"h","country":null,"query":{"utm_source":"ig"},'
            '"is_bot":null}'
        )
        click = PendingClick.from_json(line)
        assert click.query == (("utm_source", "ig"),)
        assert PendingClick.from_json(click.to_json()) == click
        assert click.to_row()["query"] == {"utm_source": "ig"}

    def test_queued_clicks_are_not_walked_by_the_garbage_collector(self) -> None:
        """A backlog of queued clicks must not lengthen full collections (the redirect's p99)."""
        writer = ClickWriter(Settings(_env_file=None))  # type: ignore[call-arg]
        (click,) = _clicks(1, 1)
        writer.enqueue(click._replace(query=(("utm_source", "ig"),)))
        gc.collect()
        assert writer.queued == 1
        assert not gc.is_tracked(writer._queue[0])
