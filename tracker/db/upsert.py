"""INSERT … ON CONFLICT, which both databases spell the same but SQLAlchemy builds per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from tracker.db.engine import Bind, dialect_of


def upsert(table: Any, bind: Bind) -> postgresql.Insert | sqlite.Insert:
    """The INSERT of ``bind``'s database, the one that takes an ON CONFLICT clause."""
    dialect_insert = postgresql.insert if dialect_of(bind) == "postgresql" else sqlite.insert
    return dialect_insert(table)


def insert_ignoring_duplicates(table: Any, bind: Bind) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: replays and redeliveries become no-ops, never errors."""
    return upsert(table, bind).on_conflict_do_nothing()
