"""The database: engine and dialect (engine.py), the driver alone for the click writer's
process (driver.py) and its batches (batch.py), column types (types.py), the request's session
(session.py), upserts (upsert.py) and the Alembic runner (migrate.py).

Merged migrations name `tracker.db.UTCDateTime`; it stays reachable from here for them, looked
up only when asked, since the click writer's process imports driver.py without SQLAlchemy.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "UTCDateTime":
        from tracker.db.types import UTCDateTime

        return UTCDateTime
    raise AttributeError(f"module 'tracker.db' has no attribute {name!r}")
