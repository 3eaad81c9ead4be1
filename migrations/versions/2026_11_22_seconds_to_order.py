"""Orders keep the click-to-order time of rule-1 credits (medians without joining clicks).

Revision ID: e883ff24cc3d
Revises: b465f4e84929
Create Date: 2026-11-22 13:56:30.118195
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e883ff24cc3d"
down_revision: str | None = "b465f4e84929"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seconds_to_order", sa.Float(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE orders SET seconds_to_order = "
            "EXTRACT(EPOCH FROM orders.occurred_at - clicks.clicked_at) "
            "FROM clicks WHERE clicks.id = orders.attributed_click_id"
        )
    else:
        op.execute(
            "UPDATE orders SET seconds_to_order = (SELECT "
            "(julianday(orders.occurred_at) - julianday(clicks.clicked_at)) * 86400.0 "
            "FROM clicks WHERE clicks.id = orders.attributed_click_id) "
            "WHERE attributed_click_id IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("seconds_to_order")
