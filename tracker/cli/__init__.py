"""The `tracker` command: serve, migrate, manage keys, print the configuration."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime
from typing import Annotated, get_args
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import auth, logs
from tracker import demo as tracker_demo
from tracker.cli import bots as bots_cli
from tracker.cli import links as links_cli
from tracker.cli.common import settings_or_exit, with_session, with_sessions
from tracker.clicks import rebuild as clicks_rebuild
from tracker.clicks.writer import WriterSettings
from tracker.clock import as_utc
from tracker.db import migrate
from tracker.db.engine import (
    DATABASE_ERRORS,
    create_engine,
    create_sessionmaker,
    dialect_of,
    reason,
)
from tracker.orders import intake as orders_intake
from tracker.orders import repository as orders_repository
from tracker.orders.events import describe
from tracker.reports import export as reports_export
from tracker.reports import service as reports_service
from tracker.reports.queries import Dimension
from tracker.reports.schemas import Report
from tracker.server import host as host_process
from tracker.server.writer_host import run_process as run_writer_process
from tracker.spend import service as spend_service
from tracker.spend.schemas import SpendCreate

app = typer.Typer(
    help="Tracker: UTM short links, click logging and order attribution.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the /api endpoints.", no_args_is_help=True)
app.add_typer(db_app, name="db")
rollup_app = typer.Typer(help="The daily click rollup behind the reports.", no_args_is_help=True)
app.add_typer(rollup_app, name="rollup")
spend_app = typer.Typer(help="What links and campaigns cost.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(spend_app, name="spend")
app.add_typer(links_cli.app, name="links")
app.add_typer(bots_cli.app, name="bots")
app.command("ua")(bots_cli.ua)


def main() -> None:
    """The `tracker` command. A database that does not answer is one line and exit status
    75 (EX_TEMPFAIL: try again later), not a page of traceback at 3 a.m."""
    try:
        app()
    except (migrate.Unreachable, *DATABASE_ERRORS) as exc:  # asked first, as it migrates; or gone
        typer.echo(f"database unavailable: {reason(exc)}", err=True)
        sys.exit(migrate.UNREACHABLE)


_SECRET_WORDS = ("secret", "password", "token", "key")
log = logging.getLogger(__name__)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="processes sharing the database")] = 1,
) -> None:
    """Migrate the schema to head, then serve the redirects and the API.

    With the database unreachable it serves all the same (the links this host
    served before, from its snapshot; clicks wait in the journal) and
    migrates once the database answers.
    """
    settings_or_exit()
    host_process.exec_serve(host, port, workers)


@app.command("write-clicks")
def write_clicks(
    exit_with_parent: Annotated[
        bool, typer.Option(help="stop when the parent process goes (as `tracker serve` starts it)")
    ] = False,
) -> None:
    """Write journaled clicks to the database until SIGTERM (`tracker serve` runs this itself)."""
    settings = settings_or_exit()
    logs.configure(settings.log_level)
    run_writer_process(WriterSettings.of(settings), exit_with_parent)


@app.command("config")
def show_config() -> None:
    """Print the effective settings as JSON, secrets masked."""
    settings = settings_or_exit()
    shown: dict[str, object] = {}
    for name, value in settings.model_dump(mode="json").items():
        if name == "database_url":
            value = make_url(value).render_as_string(hide_password=True)
        elif value and any(word in name for word in _SECRET_WORDS):
            value = "********"
        shown[f"TRACKER_{name.upper()}"] = value
    typer.echo(json.dumps(shown, indent=2))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations up to REVISION (default: head)."""
    migrate.upgrade(settings_or_exit().database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    scope: Annotated[
        str, typer.Option(help="admin: everything; read: reports and links, no changes")
    ] = "admin",
) -> None:
    """Create a key; it is printed once, alone on the last line."""
    if scope not in auth.SCOPES:
        typer.echo(f"--scope must be one of {', '.join(auth.SCOPES)}", err=True)
        raise typer.Exit(2)
    key, raw_key = with_session(lambda session: auth.create_key(session, name, scope))
    typer.echo(
        f"created API key {key.id} ({key.name}, scope {key.scope}); "
        "store it now, it is not shown again:"
    )
    typer.echo(raw_key)


@keys_app.command("list")
def keys_list() -> None:
    """List the keys (never the keys themselves)."""
    for key in with_session(auth.list_keys):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        typer.echo(f"{key.id}\t{key.prefix}…\t{key.name}\t{key.scope}\t{state}\tlast used {used}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="the id shown by `keys list`")]) -> None:
    """Revoke a key: requests carrying it get 401 from now on."""
    key = with_session(lambda session: auth.revoke_key(session, key_id))
    typer.echo(f"revoked API key {key.id} ({key.name})")


@app.command()
def deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="only those kept with an error")] = False,
    reprocess: Annotated[
        int | None, typer.Option(help="read delivery ID into orders again (after a fix)")
    ] = None,
) -> None:
    """List stored webhook deliveries, or reprocess one."""
    settings = settings_or_exit()
    if reprocess is not None:

        async def again(session: AsyncSession) -> str | None:
            return await orders_intake.process(session, reprocess, settings)

        try:
            error = with_session(again)
        except LookupError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"delivery {reprocess}: " + (f"failed again: {error}" if error else "applied"))
        raise typer.Exit(1 if error else 0)

    async def listing(session: AsyncSession) -> list[str]:
        rows = await orders_repository.deliveries(session, failed_only=failed)
        return [
            f"{d.id}\t{d.received_at:%Y-%m-%d %H:%M:%S}\t{d.platform}\t{d.topic or '-'}\t"
            + (f"FAILED: {d.error}" if d.error else "ok" if d.processed_at else "pending")
            for d in rows
        ]

    for line in with_session(listing):
        typer.echo(line)


@app.command()
def reattribute(
    since: Annotated[
        datetime | None, typer.Option(help="only deliveries received since (UTC date or time)")
    ] = None,
) -> None:
    """Recompute orders and their attribution from the stored webhook bodies."""
    settings = settings_or_exit()
    start = as_utc(since) if since is not None else None

    async def run(session: AsyncSession) -> tuple[int, int]:
        return await orders_intake.reattribute(session, settings, start)

    applied, failed = with_session(run)
    typer.echo(
        f"reapplied {applied} deliveries; {failed} failed (see `tracker deliveries --failed`)"
    )


@spend_app.command("add")
def spend_add(
    day: Annotated[str, typer.Option("--date", help="the day it was spent, e.g. 2026-11-20")],
    amount: Annotated[str, typer.Option(help="a decimal amount, e.g. 120.00")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. EUR")],
    link: Annotated[str | None, typer.Option(help="the slug of the link it paid for")] = None,
    campaign: Annotated[str | None, typer.Option(help="or the utm_campaign it paid for")] = None,
    impressions: Annotated[int | None, typer.Option(help="how often it was seen")] = None,
) -> None:
    """Record what a link or a campaign cost on a day (a second entry replaces the first)."""
    try:
        data = SpendCreate.model_validate(
            {
                "link": link,
                "utm_campaign": campaign,
                "date": day,
                "amount": amount,
                "currency": currency,
                "impressions": impressions,
            }
        )
    except ValidationError as exc:
        typer.echo(f"invalid spend: {describe(exc)}", err=True)
        raise typer.Exit(2) from exc
    spend, created = with_session(lambda session: spend_service.record(session, data))
    verb = "recorded" if created else "replaced"
    typer.echo(f"{verb} spend {spend.id}: {data.amount} {data.currency} on {data.date}")


@app.command()
def stats(
    start: Annotated[str | None, typer.Option("--from", help="date or datetime")] = None,
    end: Annotated[str | None, typer.Option("--to", help="date (inclusive) or datetime")] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone that cuts the days")] = "UTC",
    group_by: Annotated[str | None, typer.Option(help="a dimension of /api/stats")] = None,
    link: Annotated[str | None, typer.Option()] = None,
    utm_source: Annotated[str | None, typer.Option()] = None,
    utm_medium: Annotated[str | None, typer.Option()] = None,
    utm_campaign: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[str | None, typer.Option()] = None,
) -> None:
    """The report of /api/stats as a table in the terminal."""
    settings = settings_or_exit()
    if group_by is not None and group_by not in get_args(Dimension):
        typer.echo(f"group_by: one of {', '.join(get_args(Dimension))}", err=True)
        raise typer.Exit(2)

    async def run(readers: reports_service.Readers) -> Report:
        scope = reports_service.scope_for(
            settings,
            dialect=dialect_of(settings.database_url),
            start=start,
            end=end,
            tz=tz,
            group_by=group_by,  # type: ignore[arg-type]
            link=link,
            utm_source=utm_source,
            utm_medium=utm_medium,
            utm_campaign=utm_campaign,
            tag=tag,
        )
        return await reports_service.report(readers, scope)

    data = with_sessions(run, reading=True)
    Console().print(reports_export.to_table(data))


@rollup_app.command("rebuild")
def rollup_rebuild() -> None:
    """Recount the rollups from the raw clicks (after TRACKER_REPORT_TIMEZONE changed) and re-file
    the orders' source, medium and campaign from their links."""
    settings = settings_or_exit()

    async def run(session: AsyncSession) -> int:
        return await clicks_rebuild.rebuild(session, ZoneInfo(settings.report_timezone))

    days = with_session(run)
    typer.echo(f"rollup rebuilt: {days} link-days in {settings.report_timezone}")


@app.command()
def demo(
    force: Annotated[
        bool, typer.Option("--force", help="add a demo to a database that already has links")
    ] = False,
) -> None:
    """Fill the database with a made-up shop (links, clicks, orders, spend) to explore."""
    settings = settings_or_exit()
    migrate.upgrade(settings.database_url)

    async def run() -> tracker_demo.Summary:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await tracker_demo.fill(engine, session, settings, force=force)
        finally:
            await engine.dispose()

    try:
        summary = asyncio.run(run())
    except tracker_demo.DemoRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"demo shop: {summary.links} links, {summary.clicks:,} clicks over {tracker_demo.DAYS} "
        f"days, {summary.deliveries} order deliveries, {summary.spend} spend entries"
    )
    typer.echo("now run `tracker serve` and open http://127.0.0.1:8000/ (sign in with a key).")
