"""Spend per link or campaign and day; the indexes the reports need.

Revision ID: 4171768a6471
Revises: c5a9eb420f53
Create Date: 2026-11-22 13:00:26.612087
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.db

revision: str = "4171768a6471"
down_revision: str | None = "c5a9eb420f53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target", sa.String(length=220), nullable=False),
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("created_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_spend_link_id_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend")),
        sa.UniqueConstraint("target", "day", "currency", name=op.f("uq_spend_target")),
    )
    with op.batch_alter_table("spend", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_spend_link_id"), ["link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_spend_utm_campaign"), ["utm_campaign"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_link_id"))
        batch_op.create_index(
            "ix_orders_link_id_occurred_at", ["link_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_link_id_occurred_at")
        batch_op.create_index(batch_op.f("ix_orders_link_id"), ["link_id"], unique=False)

    with op.batch_alter_table("spend", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spend_utm_campaign"))
        batch_op.drop_index(batch_op.f("ix_spend_link_id"))
        batch_op.drop_index(batch_op.f("ix_spend_day"))

    op.drop_table("spend")
