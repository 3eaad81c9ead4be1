"""`tracker ua` explains bot verdicts; `tracker bots reclassify` brings history up to date."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tracker.cli.common import settings_or_exit, with_sessions
from tracker.clicks import reclassify as clicks_reclassify
from tracker.clicks.router import UserAgentReading
from tracker.clock import as_utc, utcnow, zone

app = typer.Typer(help="Bot verdicts of the stored clicks.", no_args_is_help=True)


def ua() -> None:
    """Read user agents, one per line on standard input; print one JSON verdict per line.

    Each line says is_bot, the rule that decided it (list, version, the words
    matched and, for our own rules, the page that documents the bot), device,
    browser and os.
    """
    for line in sys.stdin:
        typer.echo(UserAgentReading.of(line.rstrip("\r\n")).model_dump_json())


@app.command("reclassify")
def reclassify(
    since: Annotated[
        datetime | None,
        typer.Option(help="only clicks from this date or time (UTC); default: all of them"),
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="clicks per transaction")
    ] = clicks_reclassify.BATCH,
) -> None:
    """Judge stored clicks again with today's bot rules; the rollup and reports follow.

    Runs beside a serving Tracker: each batch is a short transaction, so the
    click writer and the reports carry on between them.
    """
    settings = settings_or_exit()
    report_zone = zone(settings.report_timezone)

    async def run(sessions: async_sessionmaker[AsyncSession]) -> clicks_reclassify.Outcome:
        return await clicks_reclassify.reclassify(
            sessions,
            report_zone,
            today=utcnow().astimezone(report_zone).date(),
            since=as_utc(since) if since is not None else None,
            batch=batch,
        )

    outcome = with_sessions(run)
    typer.echo(
        f"{outcome.judged} clicks judged again: {outcome.now_bots} are now bots, "
        f"{outcome.now_people} are now people"
    )
