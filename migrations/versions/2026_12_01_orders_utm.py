"""orders.utm_source, utm_medium, utm_campaign: the credited link's, kept with the order.

Filled from the orders' links; the report indexes carry them, so that a
report by source, medium or campaign reads its orders without their links
(tracker/orders/attribution.py, links/utm_rollup.py).

Revision ID: 6a3e8c1f5d27
Revises: 2d7f4b9e1c68
Create Date: 2026-12-01 10:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6a3e8c1f5d27"
down_revision: str | None = "2d7f4b9e1c68"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
# Frozen here: the model's REPORT_COLUMNS may change in a later revision.
_COLUMNS = ["status", "is_test", "currency", "amount_minor", "ms_to_order", "has_refunds"]


_INDEXES = {
    "ix_orders_report": ["occurred_at", "link_id"],
    "ix_orders_link_report": ["link_id", "occurred_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for field in _FIELDS:
            batch_op.add_column(sa.Column(field, sa.String(length=200), nullable=True))
    values = ", ".join(
        f"{field} = (SELECT links.{field} FROM links WHERE links.id = orders.link_id)"
        for field in _FIELDS
    )
    op.execute(f"UPDATE orders SET {values} WHERE link_id IS NOT NULL")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name, lead in _INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [*lead, *_COLUMNS, *_FIELDS])


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name, lead in _INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [*lead, *_COLUMNS])
        for field in reversed(_FIELDS):
            batch_op.drop_column(field)
