"""Clicks keep the request-header sign of a program (no Accept-Language), beside is_bot.

`tracker bots reclassify` judges user agents again; without the signal stored,
it would turn a click flagged by its headers back into a person's.

Revision ID: 3b9d2f6a8c14
Revises: 8a3c5e7f9b21
Create Date: 2026-11-29 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b9d2f6a8c14"
down_revision: str | None = "8a3c5e7f9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite on either database.
    op.add_column("clicks", sa.Column("bot_signal", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clicks") as table:
        table.drop_column("bot_signal")
