"""Orders waiting for their click, asked through the driver by whoever writes clicks.

The click writer asks after every batch, and its process holds no SQLAlchemy
(db/driver.py): only when an order does wait does it load the ORM to credit it
(server/writer_host.py). Few orders ever wait (their click was journaled when
their webhook came: an outage, a backlog), so they are found first and matched
here: a batch of thousands of click ids never becomes an IN list.
"""

from collections.abc import Sequence
from datetime import timedelta

from tracker.clock import utcnow
from tracker.db.driver import Connection, sqlite_time
from tracker.db.names import WAITING_FOR_CLICK

# Shop clocks and ours disagree by seconds; a click "after" its order by less is still its click.
CLOCK_SKEW = timedelta(minutes=5)


async def orders_waiting_for(
    connection: Connection, click_ids: Sequence[str], window: timedelta
) -> list[int]:
    """The ids of orders that name one of these clicks and are not yet credited to one; older
    orders than the attribution window (and the clocks' skew) cannot be credited to a new
    click."""
    since = utcnow() - window - CLOCK_SKEW
    after = connection.mark(1)
    waiting = await connection.fetch(
        f"SELECT id, click_id FROM orders WHERE {WAITING_FOR_CLICK} AND occurred_at >= {after}",
        [since if connection.postgres else sqlite_time(since)],
    )
    wanted = set(click_ids)
    return [order_id for order_id, click_id in waiting if click_id in wanted]
