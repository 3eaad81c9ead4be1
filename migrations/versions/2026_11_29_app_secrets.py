"""app_secrets: secrets every host of a deployment shares, such as the dashboard's cookie key.

Revision ID: 4c7e2a9d1b35
Revises: 8b2d5e9f4a13
Create Date: 2026-11-29 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.db

revision: str = "4c7e2a9d1b35"
down_revision: str | None = "8b2d5e9f4a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
