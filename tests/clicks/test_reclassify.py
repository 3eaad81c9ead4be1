"""`tracker bots reclassify`: history follows the bot rules, and the rollup follows history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from tests import factories
from tests.clicks.test_rollup import _both, _scope
from tests.test_cli import tracker
from tracker.clicks import bots, reclassify
from tracker.models import ClickDay, Link, VisitorDay
from tracker.server.dispatch import TrackerApp

CARDYB = "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)"
# Instagram's in-app browser on Chromium's network stack: a substring rule read "Cron".
CRONET = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0 Mobile Safari/537.36 Instagram 312.0.0.34.111 Android Cronet/119.0.6045.31"
)
TODAY = date(2026, 11, 20)  # the clock fixture's day
UTC_ZONE = ZoneInfo("UTC")  # the tests' TRACKER_REPORT_TIMEZONE


async def _stale_history(app: TrackerApp, api: httpx.AsyncClient) -> int:
    """Clicks judged by older rules: a preview fetcher taken for a person, a person for a bot."""
    link = await factories.create_link(api, slug="post")
    (stored,) = [row for row in await factories.rows(app, Link) if row.slug == link["slug"]]
    moments = [
        ("2026-11-18T10:00:00+00:00", CARDYB, False, "a"),
        ("2026-11-18T11:00:00+00:00", CARDYB, False, "b"),
        ("2026-11-18T12:00:00+00:00", factories.IPHONE, False, "c"),
        ("2026-11-19T09:00:00+00:00", CRONET, True, "d"),
        ("2026-11-19T23:30:00+00:00", CRONET, True, "e"),
        ("2026-11-20T10:00:00+00:00", CRONET, True, "f"),
        ("2026-11-20T10:05:00+00:00", CARDYB, False, "f"),  # the same visitor hash as a human
        ("2026-11-20T11:00:00+00:00", factories.IPHONE, True, "g"),  # no Accept-Language
    ]
    for n, (moment, agent, is_bot, visitor) in enumerate(moments):
        app.runtime.journal.append(
            factories.click_record(
                f"c{n}", stored.id, datetime.fromisoformat(moment), user_agent=agent,
                visitor_hash=visitor.rjust(32, "0"), is_bot=is_bot,
                bot_signal=bots.NO_LANGUAGE if visitor == "g" else None,
            )
        )  # fmt: skip
    await factories.flush_clicks(app)
    return stored.id


async def _rollup(app: TrackerApp) -> dict[date, tuple[int, int, int]]:
    async with app.runtime.sessionmaker() as session:
        days = (await session.scalars(select(ClickDay).order_by(ClickDay.day))).all()
    return {d.day: (d.clicks, d.bot_clicks, d.unique_visitors) for d in days}


async def test_reclassify_judges_history_again_and_the_rollup_follows(
    app: TrackerApp, api: httpx.AsyncClient, clock: object
) -> None:
    await _stale_history(app, api)
    assert app.runtime.settings.report_timezone == "UTC"
    assert await _rollup(app) == {
        date(2026, 11, 18): (3, 0, 3),
        date(2026, 11, 19): (0, 2, 0),
        date(2026, 11, 20): (1, 2, 1),
    }

    outcome = await reclassify.reclassify(app.runtime.sessionmaker, UTC_ZONE, TODAY, batch=2)

    assert (outcome.judged, outcome.now_bots, outcome.now_people) == (8, 3, 3)
    assert await _rollup(app) == {
        date(2026, 11, 18): (1, 2, 1),
        date(2026, 11, 19): (2, 0, 2),
        date(2026, 11, 20): (1, 2, 1),
    }
    scope = _scope(
        app, datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), "UTC", "day"
    )
    rolled, raw = await _both(app, scope)
    assert rolled == raw
    clicks = {click.id: click for click in await factories.clicks(app)}
    assert clicks["c0"].is_bot and clicks["c0"].device_type == "bot"
    assert not clicks["c3"].is_bot and clicks["c3"].device_type == "mobile"
    # A person's user agent, but the headers of a program: reclassify keeps it a bot.
    assert clicks["c7"].is_bot and clicks["c7"].bot_signal == bots.NO_LANGUAGE
    # Yesterday's and today's visitors (the days the writer still counts) follow too: "f" is
    # still a person today through their other click, "d" and "e" are people now.
    async with app.runtime.sessionmaker() as session:
        recent = VisitorDay.day >= date(2026, 11, 19)
        seen = set((await session.scalars(select(VisitorDay.visitor_hash).where(recent))).all())
    assert {h.lstrip("0") for h in seen} == {"d", "e", "f"}

    await factories.assert_rollups_add_up(app)
    again = await reclassify.reclassify(app.runtime.sessionmaker, UTC_ZONE, TODAY)
    assert (again.judged, again.now_bots, again.now_people) == (8, 0, 0)


async def test_reclassify_since_leaves_older_clicks_alone(
    app: TrackerApp, api: httpx.AsyncClient, clock: object
) -> None:
    await _stale_history(app, api)
    since = datetime(2026, 11, 19, tzinfo=UTC)
    outcome = await reclassify.reclassify(app.runtime.sessionmaker, UTC_ZONE, TODAY, since=since)
    assert (outcome.judged, outcome.now_bots, outcome.now_people) == (5, 1, 3)
    assert (await _rollup(app))[date(2026, 11, 18)] == (3, 0, 3)


def test_the_command_reclassifies_and_says_what_changed(database_url: str) -> None:
    done = tracker("bots", "reclassify", "--since", "2026-01-01", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("0 are now bots, 0 are now people")
    wrong = tracker("bots", "reclassify", "--since", "yesterday", database_url=database_url)
    assert wrong.returncode == 2
    assert "--since" in wrong.stderr


def test_ua_reads_standard_input_and_prints_a_verdict_per_line(tmp_path: Path) -> None:
    lines = "\n".join([CARDYB, CRONET, "", "curl/8.5.0"]) + "\n"
    done = tracker("ua", database_url=f"sqlite:///{tmp_path / 'unused.db'}", stdin=lines)
    assert done.returncode == 0, done.stderr
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    assert [v["is_bot"] for v in verdicts] == [True, False, True, True]
    assert "bot_rules.toml [social preview]" in verdicts[0]["rule"]
    assert verdicts[1] == {
        "user_agent": CRONET, "is_bot": False, "rule": None, "device": "mobile",
        "browser": "Instagram", "os": "Android",
    }  # fmt: skip
    assert verdicts[2]["rule"] == "no user agent"
    assert set(verdicts[3]) == {"user_agent", "is_bot", "rule", "device", "browser", "os"}


async def test_the_api_explains_one_user_agent(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    answer = await api.get("/api/ua", params={"user_agent": CARDYB})
    assert answer.status_code == 200
    assert answer.json()["is_bot"] is True
    assert "https://docs.bsky.app/" in answer.json()["rule"]
    own = await api.get("/api/ua", headers={"User-Agent": factories.IPHONE})
    assert own.json()["is_bot"] is False and own.json()["device"] == "mobile"
    assert (await client.get("/api/ua", params={"user_agent": CARDYB})).status_code == 401
    too_long = await api.get("/api/ua", params={"user_agent": "x" * 9000})
    assert too_long.status_code == 422
