"""Run Alembic from code: `tracker serve`, `tracker db upgrade` and every CLI command use it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGE = Path(__file__).resolve().parent


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
