"""Connection settings the reports and the click writer depend on, on each database."""

from __future__ import annotations

from sqlalchemy import text

from tracker.db.engine import create_engine

# PostgreSQL: asyncpg prepares every statement, and a generic plan ignores a report's
# date range. SQLite: write-ahead logging, so reports read while the writer writes.
EXPECTED = {
    "postgresql": ("SHOW plan_cache_mode", "force_custom_plan"),
    "sqlite": ("PRAGMA journal_mode", "wal"),
}


class TestConnections:
    async def test_every_connection_is_tuned(self, database_url: str) -> None:
        engine = create_engine(database_url)
        try:
            query, expected = EXPECTED[engine.dialect.name]
            for _ in range(2):  # a fresh connection, then one back from the pool
                async with engine.connect() as connection:
                    assert await connection.scalar(text(query)) == expected
        finally:
            await engine.dispose()
