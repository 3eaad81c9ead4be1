"""The ORM models and the Alembic migrations describe the same schema, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from tracker.db import create_engine
from tracker.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


class TestMigrations:
    async def test_models_and_migrations_do_not_drift(self, clean_database: str) -> None:
        engine = create_engine(clean_database)
        try:
            async with engine.connect() as connection:
                diff = await connection.run_sync(_diff)
        finally:
            await engine.dispose()
        assert diff == []
