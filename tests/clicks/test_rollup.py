"""The daily rollup always says what the raw clicks say, and reports read it correctly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import delete, text

from tests import factories, platforms
from tests.test_cli import tracker
from tracker.clicks import bulk, rollup
from tracker.config import Settings
from tracker.db.driver import Connection, DriverDatabase
from tracker.db.engine import dialect_of
from tracker.links import utm_rollup
from tracker.main import create_app
from tracker.models import ClickDay, Link, Order, UtmDay
from tracker.reports import queries, service
from tracker.reports.queries import Scope
from tracker.server.dispatch import TrackerApp

MOMENTS = [
    "2026-11-19T10:00:00+00:00",
    "2026-11-20T08:00:00+00:00",
    "2026-11-20T12:00:00+00:00",
    "2026-11-20T23:30:00+00:00",  # the 21st in Berlin
    "2026-11-21T09:00:00+00:00",
    "2026-11-22T01:00:00+00:00",
]


SEASON = [  # edges of months and a turn of the year; a Berlin evening is the next day there
    "2025-12-31T23:30:00+00:00",
    "2026-01-01T00:10:00+00:00",
    "2026-09-14T10:00:00+00:00",
    "2026-09-15T12:00:00+00:00",
    "2026-09-30T22:30:00+00:00",
    "2026-10-01T08:00:00+00:00",
    "2026-10-31T23:59:00+00:00",
    *MOMENTS,
]


async def _stored_order(app: TrackerApp, table: str, period: str) -> list[tuple[str, int]]:
    """A rollup table's (period, link) in the order it stores its rows (the heap's or rowid's)."""
    postgres = dialect_of(app.runtime.engine) == "postgresql"
    order = "ctid" if postgres else "rowid"
    async with app.runtime.sessionmaker() as session:
        found = await session.execute(
            text(f"SELECT CAST({period} AS TEXT), link_id FROM {table} ORDER BY {order}")
        )
        return [(str(stored), int(link_id)) for stored, link_id in found]


async def _clicks(
    app: TrackerApp,
    api: httpx.AsyncClient,
    repeat: int = 1,
    moments: list[str] = MOMENTS,
    salted_in: ZoneInfo = ZoneInfo("UTC"),
) -> None:
    await factories.create_link(api, slug="a", utm_source="ig", tags=["t"])
    await factories.create_link(api, slug="b", utm_source="fb")
    links = await factories.rows(app, Link)
    for _ in range(repeat):  # a replayed spool sends the same clicks again
        for n, moment in enumerate(moments):
            at = datetime.fromisoformat(moment)
            for link in links:
                app.runtime.journal.append(
                    factories.click_record(
                        f"c{n}-{link.id}",
                        link.id,
                        at,
                        user_agent=factories.IPHONE if n % 3 else "curl/8.0",
                        # Hashes change with the day's salt, as real ones do.
                        visitor_hash=f"{at.astimezone(salted_in).date()}-{n % 2}".rjust(32, "0"),
                    )
                )
        await factories.flush_clicks(app)


def _scope(
    app: TrackerApp, start: datetime, end: datetime, tz: str, group_by: queries.Dimension | None
) -> Scope:
    return Scope(
        start,
        end,
        ZoneInfo(tz),
        group_by,
        dialect_of(app.runtime.engine),
        rollup_zone=app.runtime.settings.report_timezone,
    )


async def _both(
    app: TrackerApp, scope: Scope
) -> tuple[dict[object, tuple[int, int, int]], dict[object, tuple[int, int, int]]]:
    async with app.runtime.sessionmaker() as session:
        rolled = await queries.clicks(session, scope)
        raw = await queries.clicks(session, replace(scope, rollup_zone="no rollup"))

    def flat(found: dict[object, queries.Totals]) -> dict[object, tuple[int, int, int]]:
        return {k: (t.clicks, t.bot_clicks, t.unique_visitors) for k, t in found.items()}

    return flat(rolled), flat(raw)


class TestRollup:
    async def test_counts_each_click_once_even_when_replayed(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        await _clicks(app, api, repeat=2)
        rows = sorted(
            (row.day, row.clicks, row.bot_clicks, row.unique_visitors)
            for row in await factories.rows_by(app, ClickDay)
            if row.link_id == 1
        )
        assert rows == [
            (date(2026, 11, 19), 0, 1, 0),  # curl
            (date(2026, 11, 20), 2, 1, 2),  # two visitors, and curl at 23:30
            (date(2026, 11, 21), 1, 0, 1),
            (date(2026, 11, 22), 1, 0, 1),
        ]
        await factories.assert_rollups_add_up(app)

    async def test_whole_days_from_the_rollup_and_edges_from_raw_clicks_agree(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        await _clicks(app, api)
        ranges = [
            (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
            (datetime(2026, 11, 19, 11, tzinfo=UTC), datetime(2026, 11, 21, 10, tzinfo=UTC)),
            (datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 13, tzinfo=UTC)),
        ]
        for start, end in ranges:
            for group_by in (None, "link", "utm_source", "tag", "day", "week", "month"):
                rolled, raw = await _both(app, _scope(app, start, end, "UTC", group_by))  # type: ignore[arg-type]
                assert rolled == raw, (start, end, group_by)
                assert rolled  # there is something to compare

    async def test_days_cut_in_the_report_timezone(self, settings: Settings) -> None:
        berlin = create_app(settings.model_copy(update={"report_timezone": "Europe/Berlin"}))
        async with berlin.lifespan(), factories.api_client(berlin) as api:
            await _clicks(berlin, api)
            days = sorted({row.day for row in await factories.rows_by(berlin, ClickDay)})
            assert days == [
                date(2026, 11, 19),
                date(2026, 11, 20),
                date(2026, 11, 21),
                date(2026, 11, 22),
            ]
            rolled, raw = await _both(
                berlin,
                _scope(
                    berlin,
                    datetime(2026, 11, 18, 23, tzinfo=UTC),
                    datetime(2026, 11, 22, 23, tzinfo=UTC),
                    "Europe/Berlin",
                    "day",
                ),
            )
            assert rolled == raw
            assert {k: v[0] + v[1] for k, v in rolled.items()} == {
                "2026-11-19": 2,
                "2026-11-20": 4,
                "2026-11-21": 4,
                "2026-11-22": 2,
            }

    async def test_rebuild_recounts_what_the_writer_counted(
        self,
        app: TrackerApp,
        api: httpx.AsyncClient,
        client: httpx.AsyncClient,
        settings: Settings,
    ) -> None:
        await _clicks(app, api)
        for link in await factories.rows(app, Link):
            await _order(client, f"o-{link.id}", f"c1-{link.id}", MOMENTS[1])
        async with app.runtime.sessionmaker() as session, session.begin():
            # Links changed behind the app's back (by hand, a restore): the rebuild repairs
            # what depends on their triples, the orders' too.
            await session.execute(text("UPDATE links SET utm_campaign = 'by-hand'"))
        before = sorted(
            (r.link_id, r.day, r.clicks, r.bot_clicks, r.unique_visitors)
            for r in await factories.rows_by(app, ClickDay)
        )
        rebuilt = tracker("rollup", "rebuild", database_url=settings.database_url)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "rollup rebuilt: 8 link-days in UTC" in rebuilt.stdout
        after = sorted(
            (r.link_id, r.day, r.clicks, r.bot_clicks, r.unique_visitors)
            for r in await factories.rows_by(app, ClickDay)
        )
        assert after == before and len(after) == 8
        await factories.assert_rollups_add_up(app)
        # A day's rows side by side, as the writer stores them: a report's edge days are
        # read from few pages, not one page each (PostgreSQL reads its table for them).
        for table, period in (("click_days", "day"), ("click_months", "month")):
            stored = await _stored_order(app, table, period)
            assert stored == sorted(stored) and len(set(stored)) == len(stored), table

    @pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
    async def test_whole_months_from_the_monthly_rollup_agree_with_the_raw_clicks(
        self, settings: Settings, zone: str
    ) -> None:
        """Months, the days around them and the partial days at the edges, over a year's
        turn, cut in the report's zone: every report the same as the raw clicks give, row
        by row."""
        app = create_app(settings.model_copy(update={"report_timezone": zone}))
        local = ZoneInfo(zone)
        ranges = [
            ((2026, 9, 1), (2026, 12, 1)),  # months only
            ((2026, 9, 15, 11), (2026, 11, 20, 9)),  # partial days, days, months, days
            ((2025, 12, 1), (2026, 12, 1)),  # a year
            ((2026, 10, 31), (2026, 12, 1)),  # a day and a month
            ((2026, 9, 2), (2026, 10, 3)),  # a month less a day, two days
        ]
        async with app.lifespan(), factories.api_client(app) as api:
            await _clicks(app, api, moments=SEASON, salted_in=local)
            await factories.assert_rollups_add_up(app)
            for since, until in ranges:
                start, end = datetime(*since, tzinfo=local), datetime(*until, tzinfo=local)
                for group_by in (None, "link", "utm_source", "tag", "day", "week", "month"):
                    scope = _scope(app, start, end, zone, group_by)  # type: ignore[arg-type]
                    rolled = await service.report(app.runtime.readers, scope)
                    raw = await service.report(
                        app.runtime.readers, replace(scope, rollup_zone="none")
                    )
                    assert rolled == raw, (start, end, group_by)
                    assert rolled.totals.clicks + rolled.totals.bot_clicks > 0
            future = datetime(2099, 1, 1, tzinfo=local), datetime(2099, 3, 2, tzinfo=local)
            for group_by in (None, "month"):
                rolled, raw = await _both(app, _scope(app, *future, zone, group_by))  # type: ignore[arg-type]
                assert rolled == raw == {}

    async def test_reports_asked_at_once_are_the_reports_asked_alone(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        """A page's reports share their whole-period reads, and answer as if asked alone."""
        await _clicks(app, api, moments=SEASON)
        period = datetime(2026, 9, 15, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
        dimensions = (None, "day", "referrer", "device", "link", "utm_campaign", "tag")
        scopes = [
            replace(_scope(app, *period, "UTC", group_by), link=link)  # type: ignore[arg-type]
            for link in (None, "a")
            for group_by in dimensions
        ]
        together = await service.reports(app.runtime.readers, scopes)
        alone = [await service.report(app.runtime.readers, scope) for scope in scopes]
        assert together == alone
        everything, link_a = together[: len(dimensions)], together[len(dimensions) :]
        assert all(report.totals == everything[0].totals for report in everything)
        assert all(report.totals == link_a[0].totals for report in link_a)
        assert link_a[0].totals.clicks < everything[0].totals.clicks

    async def test_a_report_of_whole_months_reads_the_monthly_rollup(
        self, app: TrackerApp, api: httpx.AsyncClient
    ) -> None:
        """With October's days gone from `click_days` and `utm_days`, October still counts:
        from its month, per link and per campaign."""
        await _clicks(app, api, moments=SEASON)
        october = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
        by: tuple[queries.Dimension | None, ...] = ("link", "utm_campaign", None)
        before = [(await _both(app, _scope(app, *october, "UTC", key)))[0] for key in by]
        async with app.runtime.sessionmaker() as session, session.begin():
            for table in (ClickDay, UtmDay):
                await session.execute(
                    delete(table).where(
                        table.day >= date(2026, 10, 1), table.day < date(2026, 11, 1)
                    )
                )
        for key, was in zip(by, before, strict=True):
            after, raw = await _both(app, _scope(app, *october, "UTC", key))
            assert after == was == raw and after, key
        by_day, _raw = await _both(app, _scope(app, *october, "UTC", "day"))
        assert by_day == {}  # days are read from days


class TestUtmRollup:
    """Reports by source, medium or campaign read a row per triple (links/utm_rollup.py), and
    say what the raw clicks say after a link's triple changed."""

    YEAR = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))

    async def test_a_links_counts_follow_its_source_medium_and_campaign(
        self, app: TrackerApp, api: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        spring = {"utm_source": "ig", "utm_medium": "social", "utm_campaign": "spring"}
        await factories.create_link(api, slug="c", **spring)
        await _clicks(app, api, moments=SEASON)
        for link in await factories.rows(app, Link):  # orders keep their link's triple too
            for n in (1, 4):
                await _order(client, f"o{n}-{link.id}", f"c{n}-{link.id}", SEASON[n])
        await factories.assert_rollups_add_up(app)
        c_alone = replace(_scope(app, *self.YEAR, "UTC", None), link="c")
        (c_clicks,) = (await _both(app, c_alone))[0].values()
        changes = [
            ("c", {"utm_source": "fb", "utm_campaign": "summer"}),
            ("a", {"utm_medium": "paid", "title": "not a UTM field"}),
            ("b", {"utm_source": None}),  # none: filed under ''
            ("c", {"utm_campaign": "summer"}),  # the same: nothing moves
            ("b", {"title": "nothing to move"}),
        ]
        for slug, body in changes:
            response = await api.patch(f"/api/links/{slug}", json=body)
            assert response.status_code == 200, response.text
            await factories.assert_rollups_add_up(app)
            await self._agree_with_the_raw_clicks(app)
        by_campaign = (await _both(app, _scope(app, *self.YEAR, "UTC", "utm_campaign")))[0]
        assert by_campaign["summer"] == c_clicks and "spring" not in by_campaign
        assert set(by_campaign) == {"summer", None}
        by_source = (await _both(app, _scope(app, *self.YEAR, "UTC", "utm_source")))[0]
        assert set(by_source) == {"ig", "fb", None}
        async with app.runtime.sessionmaker() as session:
            scope = _scope(app, *self.YEAR, "UTC", "utm_campaign")
            orders, _gaps = await queries.orders(session, scope)
        assert {key: totals.orders for key, totals in orders.items()} == {"summer": 2, None: 4}

    async def test_a_change_waits_for_the_batch_being_written(
        self, app: TrackerApp, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        """A batch that read the link's old triple is written before its counts move; a batch
        that comes later reads the new one. Without that, the batch's clicks would stay
        filed under the old triple."""
        await factories.create_link(api, slug="c", utm_campaign="spring")
        (link,) = await factories.rows(app, Link)
        day = date(2026, 11, 20)

        async def batch(connection: Connection) -> None:
            await bulk.add_click_days(connection, [(link.id, day, 5, 1, 3)])

        await _changed_while(app, api, settings, batch)
        writer = DriverDatabase(settings.database_url)
        try:
            async with writer.begin() as connection:
                await bulk.add_click_days(connection, [(link.id, day, 1, 0, 0)])
        finally:
            await writer.close()
        await factories.assert_rollups_add_up(app)
        by_campaign: dict[str, list[int]] = {}
        for row in await factories.rows_by(app, UtmDay):
            summed = by_campaign.setdefault(row.utm_campaign, [0, 0, 0])
            for n, count in enumerate((row.clicks, row.bot_clicks, row.unique_visitors)):
                summed[n] += count
        assert by_campaign == {"spring": [0, 0, 0], "summer": [6, 1, 3]}

    async def test_a_change_waits_for_the_order_being_credited(
        self,
        app: TrackerApp,
        api: httpx.AsyncClient,
        client: httpx.AsyncClient,
        settings: Settings,
    ) -> None:
        """An order credited with the link's old triple is committed before the link's orders
        move (and so moves with them): without that, it would keep the old triple."""
        await factories.create_link(api, slug="c", utm_campaign="spring")
        (link,) = await factories.rows(app, Link)
        await _order(client, "o1", None, "2026-11-20T08:00:00+00:00")  # credited to no link
        (order,) = await factories.rows(app, Order)

        async def credit(connection: Connection) -> None:
            triple = await utm_rollup.credited(connection, link.id)
            marks = [connection.mark(n) for n in range(1, 6)]
            await connection.execute(
                f"UPDATE orders SET link_id = {marks[0]}, utm_source = {marks[1]},"
                f" utm_medium = {marks[2]}, utm_campaign = {marks[3]} WHERE id = {marks[4]}",
                [link.id, *triple, order.id],
            )

        await _changed_while(app, api, settings, credit)
        (order,) = await factories.rows(app, Order)
        assert (order.link_id, order.utm_campaign) == (link.id, "summer")

    async def _agree_with_the_raw_clicks(self, app: TrackerApp) -> None:
        dimensions: tuple[queries.Dimension | None, ...] = (
            None, "utm_source", "utm_medium", "utm_campaign", "month", "day",
        )  # fmt: skip
        for group_by in dimensions:
            for source, campaign in ((None, None), (None, "summer"), ("fb", None)):
                scope = replace(
                    _scope(app, *self.YEAR, "UTC", group_by),
                    utm_source=source,
                    utm_campaign=campaign,
                )
                rolled, raw = await _both(app, scope)
                assert rolled == raw, (group_by, source, campaign)


async def _changed_while(
    app: TrackerApp,
    api: httpx.AsyncClient,
    settings: Settings,
    write: Callable[[Connection], Awaitable[None]],
) -> None:
    """Link c's campaign changed to "summer" while ``write``'s transaction is open: the change
    waits for its commit (PostgreSQL: on the UTM lock; SQLite: for its one writer)."""
    writer = DriverDatabase(settings.database_url)
    try:
        async with writer.begin() as connection:
            await write(connection)
            change = asyncio.create_task(api.patch("/api/links/c", json={"utm_campaign": "summer"}))
            if connection.postgres:
                await factories.eventually(lambda: _waiting_for_the_lock(app))
            else:  # give the change time to be waiting
                await asyncio.sleep(0.2)
            assert not change.done()
        assert (await change).status_code == 200
    finally:
        await writer.close()


async def _order(
    client: httpx.AsyncClient, order_id: str, click_id: str | None, clicked: str
) -> None:
    """An order an hour after ``clicked``, credited to the link of the click it names."""
    body = {
        "order_id": order_id,
        "amount": "10.00",
        "currency": "EUR",
        "occurred_at": (datetime.fromisoformat(clicked) + timedelta(hours=1)).isoformat(),
        "status": "paid",
        **({"click_id": click_id} if click_id else {}),
    }
    response = await platforms.generic(client, body)
    assert response.json() == {"status": "accepted"}, response.text


async def _waiting_for_the_lock(app: TrackerApp) -> bool:
    async with app.runtime.sessionmaker() as session:
        waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return bool((await session.execute(waiting)).scalar())


class TestLocalDay:
    def test_the_cut_falls_on_the_minute_in_a_zone_off_by_45_minutes(self) -> None:
        """The writer finds a click's day by its Unix minute: Kathmandu is UTC+05:45."""
        kathmandu = ZoneInfo("Asia/Kathmandu")

        def minute(moment: datetime) -> int:
            return int(moment.timestamp()) // 60

        before = datetime(2026, 11, 21, 18, 14, tzinfo=UTC)  # 23:59 there
        after = datetime(2026, 11, 21, 18, 15, tzinfo=UTC)  # midnight there
        assert rollup.local_day(minute(before), kathmandu) == date(2026, 11, 21)
        assert rollup.local_day(minute(after), kathmandu) == date(2026, 11, 22)
