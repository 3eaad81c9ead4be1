"""links.clicks_reserved: a link's max_clicks held in the database, across processes and hosts.

Links that already have a limit start from the human clicks written so far.

Revision ID: 6f2b8d4c0e53
Revises: 5e1a7c3b9d42
Create Date: 2026-11-30 00:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f2b8d4c0e53"
down_revision: str | None = "5e1a7c3b9d42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: no table rewrite on PostgreSQL.
    op.add_column(
        "links",
        sa.Column("clicks_reserved", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE links SET clicks_reserved = (SELECT count(*) FROM clicks"
        " WHERE clicks.link_id = links.id AND NOT clicks.is_bot) WHERE max_clicks IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("links") as table:
        table.drop_column("clicks_reserved")
