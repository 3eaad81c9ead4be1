"""link_changes: how the processes sharing one SQLite database hear that a link changed.

PostgreSQL processes hear it by NOTIFY and never write here; the table is
there on both so that the schema is one.

Revision ID: 5e1a7c3b9d42
Revises: 3b9d2f6a8c14
Create Date: 2026-11-30 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.db

revision: str = "5e1a7c3b9d42"
down_revision: str | None = "3b9d2f6a8c14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("changed_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_changes")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("link_changes")
