"""The `tracker` command: serve, migrate, manage keys, print the configuration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import auth, schema
from tracker.config import Settings, get_settings
from tracker.db import create_engine, create_sessionmaker
from tracker.errors import TrackerError
from tracker.orders import repository as orders_repository
from tracker.orders import service as orders_service

app = typer.Typer(
    help="Tracker: UTM short links, click logging and order attribution.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the /api endpoints.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

T = TypeVar("T")

_SECRET_WORDS = ("secret", "password", "token", "key")


def _settings() -> Settings:
    """The settings, or one clear line naming the bad one and exit status 2."""
    try:
        return get_settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = f"TRACKER_{str(error['loc'][0]).upper()}" if error["loc"] else "a setting"
        typer.echo(f"invalid setting {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate to head (so every command works on a fresh install), then run ``work``."""
    settings = _settings()
    schema.upgrade(settings.database_url)

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except TrackerError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="processes sharing the database")] = 1,
) -> None:
    """Migrate the schema to head, then serve the redirects and the API."""
    settings = _settings()
    schema.upgrade(settings.database_url)  # once, before any worker starts
    uvicorn.run(
        "tracker.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,  # TRACKER_TRUSTED_PROXIES decides whom to believe
        server_header=False,
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=30,
    )


@app.command("config")
def show_config() -> None:
    """Print the effective settings as JSON, secrets masked."""
    settings = _settings()
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
    schema.upgrade(_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="who or what uses the key")]) -> None:
    """Create a key; it is printed once, alone on the last line."""
    key, raw_key = _with_session(lambda session: auth.create_key(session, name))
    typer.echo(f"created API key {key.id} ({key.name}); store it now, it is not shown again:")
    typer.echo(raw_key)


@keys_app.command("list")
def keys_list() -> None:
    """List the keys (never the keys themselves)."""
    for key in _with_session(auth.list_keys):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        typer.echo(f"{key.id}\t{key.prefix}…\t{key.name}\t{state}\tlast used {used}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="the id shown by `keys list`")]) -> None:
    """Revoke a key: requests carrying it get 401 from now on."""
    key = _with_session(lambda session: auth.revoke_key(session, key_id))
    typer.echo(f"revoked API key {key.id} ({key.name})")


@app.command()
def deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="only those kept with an error")] = False,
    reprocess: Annotated[
        int | None, typer.Option(help="read delivery ID into orders again (after a fix)")
    ] = None,
) -> None:
    """List stored webhook deliveries, or reprocess one."""
    settings = _settings()
    if reprocess is not None:

        async def again(session: AsyncSession) -> str | None:
            return await orders_service.process(session, reprocess, settings)

        try:
            error = _with_session(again)
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

    for line in _with_session(listing):
        typer.echo(line)


@app.command()
def reattribute(
    since: Annotated[
        datetime | None, typer.Option(help="only deliveries received since (UTC date or time)")
    ] = None,
) -> None:
    """Recompute orders and their attribution from the stored webhook bodies."""
    settings = _settings()
    start = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since

    async def run(session: AsyncSession) -> tuple[int, int]:
        return await orders_service.reattribute(session, settings, start)

    applied, failed = _with_session(run)
    typer.echo(
        f"reapplied {applied} deliveries; {failed} failed (see `tracker deliveries --failed`)"
    )
