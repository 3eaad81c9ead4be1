"""The database: engine and dialect (engine.py), column types (types.py), the request's
session (session.py), upserts (upsert.py) and the Alembic runner (migrate.py).

Merged migrations name `tracker.db.UTCDateTime`; it stays importable from here for them.
"""

from tracker.db.types import UTCDateTime

__all__ = ["UTCDateTime"]
