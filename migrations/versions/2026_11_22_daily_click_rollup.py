"""The daily click rollup (click_days) and its visitor dedupe (visitor_days), backfilled.

Revision ID: b465f4e84929
Revises: 4171768a6471
Create Date: 2026-11-22 13:08:58.483533
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b465f4e84929"
down_revision: str | None = "4171768a6471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "click_days",
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("bot_clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_visitors", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_click_days_link_id_links")
        ),
        sa.PrimaryKeyConstraint("link_id", "day", name=op.f("pk_click_days")),
    )
    with op.batch_alter_table("click_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_click_days_day"), ["day"], unique=False)

    op.create_table(
        "visitor_days",
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_hash", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_visitor_days_link_id_links")
        ),
        sa.PrimaryKeyConstraint("link_id", "day", "visitor_hash", name=op.f("pk_visitor_days")),
    )
    with op.batch_alter_table("visitor_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_days_day"), ["day"], unique=False)
    # Clicks already stored are counted in by UTC day (`tracker rollup rebuild` re-cuts them).
    utc_day = (
        "date(clicked_at)"
        if op.get_bind().dialect.name == "sqlite"
        else "CAST(clicked_at AT TIME ZONE 'UTC' AS DATE)"
    )
    op.execute(
        f"""
        INSERT INTO click_days (link_id, day, clicks, bot_clicks, unique_visitors)
        SELECT link_id, {utc_day},
               SUM(CASE WHEN is_bot THEN 0 ELSE 1 END),
               SUM(CASE WHEN is_bot THEN 1 ELSE 0 END),
               COUNT(DISTINCT CASE WHEN is_bot THEN NULL ELSE visitor_hash END)
        FROM clicks GROUP BY link_id, {utc_day}
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("visitor_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_days_day"))

    op.drop_table("visitor_days")
    with op.batch_alter_table("click_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_click_days_day"))

    op.drop_table("click_days")
