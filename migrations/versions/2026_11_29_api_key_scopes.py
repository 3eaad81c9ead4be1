"""API keys get a scope: admin (everything, as every key so far) or read (reports and links).

Revision ID: 8a3c5e7f9b21
Revises: 6d1f0b8e2c47
Create Date: 2026-11-29 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a3c5e7f9b21"
down_revision: str | None = "6d1f0b8e2c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(
            sa.Column("scope", sa.String(length=8), server_default="admin", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("scope")
