"""Run Alembic from code: `tracker serve`, `tracker db upgrade` and every CLI command use it.

Alembic is imported only when a migration runs, and `tracker serve` runs it in a
process of its own (`upgrade_apart`): the long-lived server then never carries
Alembic and the migration scripts, 8 MB of its resident memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from tracker.db.engine import DATABASE_ERRORS, create_engine, dialect_of, ping, reason
from tracker.db.names import CLICK_PARTITION

if TYPE_CHECKING:
    from alembic.config import Config

_PACKAGE = Path(__file__).resolve().parent.parent  # tracker/


def _script_location() -> Path:
    """Installed wheels carry the migrations inside the package; a checkout has them at the top."""
    for candidate in (_PACKAGE / "_migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("the Alembic migrations are missing from this installation")


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; concurrent callers on PostgreSQL take turns. Raises
    `Unreachable` if the database does not answer (asked first: see `_ask`)."""
    _ask(database_url)
    _upgrade(database_url, revision)


def _upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


UNREACHABLE = 75  # EX_TEMPFAIL: the database did not answer; try again later
_URL_VARIABLE = "TRACKER_MIGRATE_DATABASE_URL"
_PING_SECONDS = 5.0


class Unreachable(Exception):
    """The database did not answer the migration; the message says what failed."""


def upgrade_apart(database_url: str) -> None:
    """`upgrade` to head in a child process: raises `Unreachable` if the database did not
    answer, RuntimeError if the migration failed otherwise (its traceback is on stderr).

    The URL goes to the child in its environment, not its command line, which
    `ps` shows to every user of the machine. The database is asked first, from
    here: while it is away (`tracker serve` retries every few seconds through an
    outage) no child is started, each of which cost 0.7-0.9 s of CPU to import
    Alembic only to find the database gone.
    """
    _ask(database_url)
    child = subprocess.run(
        [sys.executable, "-m", __name__],
        env={**os.environ, _URL_VARIABLE: database_url},
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if child.returncode == UNREACHABLE:
        raise Unreachable(child.stderr.strip())
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise RuntimeError(f"the schema migration failed (exit status {child.returncode})")


def _ask(database_url: str) -> None:
    """Raise `Unreachable` unless the database answers a trivial query.

    SQLite is asked through the standard library: aiosqlite answers a failed
    connection from a thread of its own, which then found this short-lived
    loop already closed about one time in seven (or, under the command line's
    own loop, one in three), and printed a traceback.
    """
    try:
        if dialect_of(database_url) == "sqlite":
            path = make_url(database_url).database or ""
            with contextlib.closing(sqlite3.connect(path, timeout=_PING_SECONDS)) as connection:
                connection.execute("SELECT 1")
        else:
            asyncio.run(_ping(database_url))
    except (*DATABASE_ERRORS, sqlite3.Error) as exc:
        raise Unreachable(reason(exc)) from exc


async def _ping(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await ping(engine, _PING_SECONDS)
    finally:
        await engine.dispose()


def _child() -> None:
    try:
        _upgrade(os.environ[_URL_VARIABLE])  # the parent asked the database already
    except DATABASE_ERRORS as exc:
        print(reason(exc), file=sys.stderr)  # the parent's Unreachable, in the driver's words
        sys.exit(UNREACHABLE)


def include_in(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's `include_object` for ``dialect``: Alembic ignores `ddl_if`.

    An index or a constraint made for the other database only is not part of
    this one's schema, so neither autogenerate nor the drift test should ask for it;
    nor are the monthly partitions of clicks (clicks/retention.py).
    """

    def include(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        if kind == "table" and reflected and name and CLICK_PARTITION.match(name):
            return False  # a month of clicks on PostgreSQL, made as clicks arrive
        made_for = getattr(getattr(item, "_ddl_if", None), "dialect", None)
        return made_for is None or made_for == dialect

    return include


if __name__ == "__main__":
    _child()
