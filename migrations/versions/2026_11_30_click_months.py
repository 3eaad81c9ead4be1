"""The monthly click rollup (click_months): a year's report reads 12 rows a link, not 365.

Filled from the daily rollup, whose days are already cut in the report's zone.

Revision ID: 8b4d0f6e2a75
Revises: 7a3c9e5d1f64
Create Date: 2026-11-30 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b4d0f6e2a75"
down_revision: str | None = "7a3c9e5d1f64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("clicks", "bot_clicks", "unique_visitors")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "click_months",
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(count, sa.BigInteger(), nullable=False) for count in _COUNTS),
        *(
            [
                sa.ForeignKeyConstraint(
                    ["link_id"], ["links.id"], name=op.f("fk_click_months_link_id_links")
                )
            ]
            if sqlite
            else []
        ),
        sa.PrimaryKeyConstraint("link_id", "month", name=op.f("pk_click_months")),
    )
    month = "strftime('%Y-%m-01', day)" if sqlite else "CAST(date_trunc('month', day) AS DATE)"
    op.execute(
        f"INSERT INTO click_months (link_id, month, {', '.join(_COUNTS)})"
        f" SELECT link_id, {month}, {', '.join(f'SUM({count})' for count in _COUNTS)}"
        f" FROM click_days GROUP BY link_id, {month}"
    )
    if sqlite:
        op.create_index(
            "ix_click_months_report", "click_months", ["month", "link_id", *_COUNTS], unique=False
        )
    else:
        op.create_index("ix_click_months_month", "click_months", ["month"], unique=False)


def downgrade() -> None:
    op.drop_table("click_months")
