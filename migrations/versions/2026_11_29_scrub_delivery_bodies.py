"""Stored webhook bodies lose their personal fields (IP addresses, e-mails, names, addresses).

Bodies stored from now on are scrubbed before they are written
(tracker/orders/privacy.py); this cleans the ones stored before, in batches
of 500 so that a large table is never held in memory. E-mails become tokens
in the bodies: orders credited by the customer rule keep their link, and
`tracker reattribute` recomputes customer hashes from the cleaned bodies.
Nothing to undo: the removed fields are gone.

Revision ID: 6d1f0b8e2c47
Revises: 4c7e2a9d1b35
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.orders.privacy import scrub

revision: str = "6d1f0b8e2c47"
down_revision: str | None = "4c7e2a9d1b35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
deliveries = sa.table(
    "deliveries", sa.column("id", sa.BigInteger), sa.column("body", sa.LargeBinary)
)


def upgrade() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(deliveries.c.id, deliveries.c.body)
            .where(deliveries.c.id > after)
            .order_by(deliveries.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for delivery_id, body in rows:
            cleaned = scrub(bytes(body))
            if cleaned != bytes(body):
                connection.execute(
                    deliveries.update().where(deliveries.c.id == delivery_id).values(body=cleaned)
                )
        after = rows[-1][0]


def downgrade() -> None:
    pass
