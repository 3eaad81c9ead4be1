"""utm_days and utm_months: clicks by the links' source, medium and campaign.

Filled from the per-link rollups, which already hold the days cut in the
report's zone; a link without a value is filed under '', and all in part 0
(links/utm_rollup.py).

Revision ID: 2d7f4b9e1c68
Revises: 9c5e1a7f3b86
Create Date: 2026-12-01 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2d7f4b9e1c68"
down_revision: str | None = "9c5e1a7f3b86"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
_COUNTS = ("clicks", "bot_clicks", "unique_visitors")


def upgrade() -> None:
    for table, period, source in (
        ("utm_days", "day", "click_days"),
        ("utm_months", "month", "click_months"),
    ):
        op.create_table(
            table,
            sa.Column(period, sa.Date(), nullable=False),
            *(sa.Column(field, sa.String(length=200), nullable=False) for field in _FIELDS),
            sa.Column("part", sa.SmallInteger(), nullable=False),
            *(sa.Column(count, sa.BigInteger(), nullable=False) for count in _COUNTS),
            sa.PrimaryKeyConstraint(period, *_FIELDS, "part", name=op.f(f"pk_{table}")),
            sqlite_with_rowid=False,
        )
        triple = ", ".join(f"coalesce(l.{field}, '')" for field in _FIELDS)
        op.execute(
            f"INSERT INTO {table} ({period}, {', '.join(_FIELDS)}, part, {', '.join(_COUNTS)})"
            f" SELECT r.{period}, {triple}, 0,"
            f" {', '.join(f'SUM(r.{count})' for count in _COUNTS)}"
            f" FROM {source} r JOIN links l ON l.id = r.link_id"
            f" GROUP BY r.{period}, {triple} ORDER BY r.{period}, {triple}"
        )


def downgrade() -> None:
    op.drop_table("utm_months")
    op.drop_table("utm_days")
