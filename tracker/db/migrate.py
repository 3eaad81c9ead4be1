"""Run Alembic from code: `tracker serve`, `tracker db upgrade` and every CLI command use it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from tracker.db.types import CLICK_PARTITION

_PACKAGE = Path(__file__).resolve().parent.parent  # tracker/


def _script_location() -> Path:
    """Installed wheels carry the migrations inside the package; a checkout has them at the top."""
    for candidate in (_PACKAGE / "_migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("the Alembic migrations are missing from this installation")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; concurrent callers on PostgreSQL take turns."""
    command.upgrade(alembic_config(database_url), revision)


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
