"""Orders know whether they have refunds, and a partial index holds the refunded ones.

A report's refunds were found by joining every order in its range to the
refunds: at 10M clicks (33,000 orders in 30 days, one in twenty refunded) that
took 70 ms on SQLite and 38 ms on PostgreSQL. Only flagged orders are read now.

Revision ID: 5e1a7c3d9b08
Revises: 9c4d2e7a1b55
Create Date: 2026-11-22 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1a7c3d9b08"
down_revision: str | None = "9c4d2e7a1b55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUNDED_COLUMNS = [
    "occurred_at", "status", "is_test", "link_id", "platform", "shop", "external_id",
]  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("has_refunds", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        "UPDATE orders SET has_refunds = true WHERE EXISTS (SELECT 1 FROM refunds "
        "WHERE refunds.platform = orders.platform AND refunds.shop = orders.shop "
        "AND refunds.order_external_id = orders.external_id)"
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_refunded",
            REFUNDED_COLUMNS,
            unique=False,
            postgresql_where=sa.text("has_refunds"),
            sqlite_where=sa.text("has_refunds"),
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_refunded")
        batch_op.drop_column("has_refunds")
