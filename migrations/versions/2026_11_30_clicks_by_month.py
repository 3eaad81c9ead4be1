"""Raw clicks can be let go: orders keep their click's id without a foreign key, and on
PostgreSQL `clicks` is partitioned by month, so that retention drops whole months.

The conversion copies every row into the partitioned table (a partition per
month from the oldest click to two months ahead), then builds the primary
key, now (id, clicked_at), and the indexes on it.

Revision ID: 7a3c9e5d1f64
Revises: 6f2b8d4c0e53
Create Date: 2026-11-30 01:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "7a3c9e5d1f64"
down_revision: str | None = "6f2b8d4c0e53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "id, link_id, clicked_at, referrer_host, referrer, user_agent, device_type, browser, os,"
    " is_bot, visitor_hash, country, query, bot_signal"
)


def _months(first: date, last: date) -> list[date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _start(month: date) -> str:
    return datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()


def upgrade() -> None:
    with op.batch_alter_table("orders") as table:
        table.drop_constraint("fk_orders_attributed_click_id_clicks", type_="foreignkey")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE clicks RENAME TO clicks_unpartitioned")
    op.execute("ALTER INDEX pk_clicks RENAME TO pk_clicks_unpartitioned")
    op.execute("DROP INDEX ix_clicks_clicked_at")
    op.execute("DROP INDEX ix_clicks_link_id_clicked_at")
    op.execute(
        "CREATE TABLE clicks (LIKE clicks_unpartitioned INCLUDING DEFAULTS)"
        " PARTITION BY RANGE (clicked_at)"
    )
    oldest = op.get_bind().scalar(sa.text("SELECT min(clicked_at) FROM clicks_unpartitioned"))
    today = datetime.now(UTC).date()
    first = min(oldest.astimezone(UTC).date(), today) if oldest else today
    last = today + timedelta(days=62)  # two months ahead, as the writer keeps them
    for month in _months(first, last):
        following = (month + timedelta(days=32)).replace(day=1)
        op.execute(
            f"CREATE TABLE clicks_y{month.year}m{month.month:02d} PARTITION OF clicks"
            f" FOR VALUES FROM ('{_start(month)}') TO ('{_start(following)}')"
        )
    op.execute(f"INSERT INTO clicks ({_COLUMNS}) SELECT {_COLUMNS} FROM clicks_unpartitioned")
    op.execute("DROP TABLE clicks_unpartitioned")
    op.execute("ALTER TABLE clicks ADD CONSTRAINT pk_clicks PRIMARY KEY (id, clicked_at)")
    op.execute("CREATE INDEX ix_clicks_clicked_at ON clicks (clicked_at)")
    op.execute("CREATE INDEX ix_clicks_link_id_clicked_at ON clicks (link_id, clicked_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE clicks RENAME TO clicks_partitioned")
        op.execute("ALTER INDEX pk_clicks RENAME TO pk_clicks_partitioned")
        op.execute("DROP INDEX ix_clicks_clicked_at")
        op.execute("DROP INDEX ix_clicks_link_id_clicked_at")
        op.execute("CREATE TABLE clicks (LIKE clicks_partitioned INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO clicks ({_COLUMNS}) SELECT {_COLUMNS} FROM clicks_partitioned")
        op.execute("DROP TABLE clicks_partitioned")  # and its partitions
        op.execute("ALTER TABLE clicks ADD CONSTRAINT pk_clicks PRIMARY KEY (id)")
        op.execute("CREATE INDEX ix_clicks_clicked_at ON clicks (clicked_at)")
        op.execute("CREATE INDEX ix_clicks_link_id_clicked_at ON clicks (link_id, clicked_at)")
    # Clicks removed by retention leave orders naming them: those lose the name first.
    op.execute(
        "UPDATE orders SET attributed_click_id = NULL WHERE attributed_click_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM clicks WHERE clicks.id = orders.attributed_click_id)"
    )
    with op.batch_alter_table("orders") as table:
        table.create_foreign_key(
            "fk_orders_attributed_click_id_clicks", "clicks", ["attributed_click_id"], ["id"]
        )
