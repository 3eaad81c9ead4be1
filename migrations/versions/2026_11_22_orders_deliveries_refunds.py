"""Orders: webhook deliveries (raw bodies), orders and refunds.

Revision ID: c5a9eb420f53
Revises: 42e83ca8b4c7
Create Date: 2026-11-22 12:53:46.119026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.db

revision: str = "c5a9eb420f53"
down_revision: str | None = "42e83ca8b4c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", tracker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("platform", "shop", "event_id", name=op.f("uq_deliveries_platform")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("order_external_id", sa.String(length=255), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("platform", "shop", "external_id", name=op.f("uq_refunds_platform")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_refunds_order", ["platform", "shop", "order_external_id"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("customer_hash", sa.String(length=64), nullable=True),
        sa.Column("click_id", sa.String(length=64), nullable=True),
        sa.Column("landing_url", sa.String(length=2048), nullable=True),
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("attributed_click_id", sa.String(length=32), nullable=True),
        sa.Column("attribution", sa.String(length=10), nullable=False),
        sa.Column("source_updated_at", tracker.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracker.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attributed_click_id"],
            ["clicks.id"],
            name=op.f("fk_orders_attributed_click_id_clicks"),
        ),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_orders_link_id_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("platform", "shop", "external_id", name=op.f("uq_orders_platform")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_click_id"), ["click_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_customer_hash"), ["customer_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_link_id"), ["link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_occurred_at"), ["occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_orders_link_id"))
        batch_op.drop_index(batch_op.f("ix_orders_customer_hash"))
        batch_op.drop_index(batch_op.f("ix_orders_click_id"))

    op.drop_table("orders")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_order")

    op.drop_table("refunds")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_received_at"))

    op.drop_table("deliveries")
