"""What the schema (models.py) and the click writer's driver-level SQL must agree on, free of
SQLAlchemy so that the writer's process can import it (db/driver.py)."""

import re

# On PostgreSQL `clicks` is partitioned by month (clicks/retention.py): clicks_y2026m11, …
CLICK_PARTITION = re.compile(r"^clicks_y(\d{4})m(\d{2})$")

# Orders that name a click but are not credited to it yet. Written out, not bound, wherever it
# is asked: the planners then match ix_orders_waiting_for_click's WHERE.
WAITING_FOR_CLICK = "click_id IS NOT NULL AND attribution <> 'click'"
