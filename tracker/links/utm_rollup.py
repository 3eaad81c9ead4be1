"""Clicks by the links' source, medium and campaign, per day and per month.

A year by campaign for 20,000 links read 256,000 rows of `click_months`, and
13,500 of `click_days` for each edge day, only to add them up into 200
campaigns. Links share far fewer (source, medium, campaign) triples than there
are links: a campaign's posts differ by their content, not by where they run.
`utm_days` and `utm_months` hold one row per triple and day or month, so that
reports with no key or filter finer than these (totals, by source, medium or
campaign, by day, week or month) read a row per triple, not per link.

A link without a value in one of them is filed under '' (a UTM value is never
empty), since a key column cannot be null on both databases.

Written with `click_days` by everything that writes it (`add`, through the
click writer's `bulk.add_click_days`, in the same transaction), and moved
when a link's triple changes (`move`, in the change's transaction). An
order keeps its link's triple too (`credited`, when it is credited), and a
move moves it with the counts. None knows which triple a link has until it
reads the link, and on PostgreSQL they must not read it across each other:
one advisory lock, shared by those adding and crediting (they never wait
for each other) and taken alone by a move, puts every move wholly between
two batches, and between two orders' commits. SQLite writes one transaction at
a time anyway. Rows are written in one order, period then triple, days before
months, so that two writers never take each other's rows in reverse.

On PostgreSQL each process adds to rows of its own (`part`, drawn once at
random among 64): with one row per triple and day, every batch of two writers
would wait for the other's commit. Reports sum the parts. SQLite has one part.

Runs in the click writer's process too: the driver alone, no SQLAlchemy.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from tracker.db import batch
from tracker.db.driver import Connection

FIELDS = ("utm_source", "utm_medium", "utm_campaign")
NONE = ""  # a triple's missing value, as stored
_LOCK = 0x75746D5F726F6C6C  # "utm_roll"
_PARTS = 64
_PART = random.randrange(_PARTS)  # this process's part on PostgreSQL
_DAY_KEYS = (("day", "date"), *((field, "varchar") for field in FIELDS), ("part", "smallint"))
_MONTH_KEYS = (("month", "date"), *((field, "varchar") for field in FIELDS), ("part", "smallint"))

Triple = tuple[str, str, str]
# A link that is not there (links are only ever marked deleted) has no triple: its clicks and
# orders are filed under none, as the reports' join to links files them.
_NO_TRIPLE: Triple = (NONE, NONE, NONE)
Counts = tuple[int, date, int, int, int]  # link id, day, clicks, bot clicks, new visitors


async def add(connection: Connection, counts: list[Counts]) -> None:
    """Add what `click_days` was just given, (link, day, counts…), to the links' triples."""
    if not counts:
        return
    await _share_lock(connection)
    triples = await _triples(connection, {link_id for link_id, *_ in counts})
    await _add(
        connection,
        ((triples.get(link_id, _NO_TRIPLE), day, numbers) for link_id, day, *numbers in counts),
    )


async def credited(connection: Connection, link_id: int) -> tuple[str | None, ...]:
    """The (source, medium, campaign) an order credited to ``link_id`` keeps (None for none),
    read under the shared lock, as a batch's triples are: a move of the link waits for the
    order's commit and then moves it too."""
    await _share_lock(connection)
    return _kept((await _triples(connection, {link_id})).get(link_id, _NO_TRIPLE))


async def move(connection: Connection, link_id: int, changes: Mapping[str, str | None]) -> None:
    """File a link's counts and orders under its new triple: ``changes`` are the UTM fields
    about to be written to it (others are ignored). Before the link is written: the triple it
    has is read under the lock, so that two changes of one link at once each move from the
    right one."""
    if connection.postgres:
        await connection.execute("SELECT pg_advisory_xact_lock($1)", [_LOCK])
    before = (await _triples(connection, {link_id}))[link_id]
    after: Triple = tuple(  # type: ignore[assignment]
        (changes[field] or NONE) if field in changes else value
        for field, value in zip(FIELDS, before, strict=True)
    )
    if after == before:
        return
    await _move_orders(connection, link_id, after)
    rows = await connection.fetch(
        f"SELECT day, {', '.join(batch.ROLLUP_COUNTS)} FROM click_days"
        f" WHERE link_id = {connection.mark(1)}",
        [link_id],
    )
    moved: list[tuple[Triple, date, list[int]]] = []
    for stored, *numbers in rows:  # its months are its days summed (`bulk.add_click_days`)
        day = stored if isinstance(stored, date) else date.fromisoformat(stored)
        moved += [(before, day, [-n for n in numbers]), (after, day, numbers)]
    await _add(connection, moved)


async def refile_orders(connection: Connection) -> None:
    """Every credited order given its link's triple as the link has it now, for links changed
    behind the app's back (by hand, a restore). Under the shared lock, as a batch: no move
    runs across it."""
    await _share_lock(connection)
    equal = "IS NOT DISTINCT FROM" if connection.postgres else "IS"  # nulls equal too
    same = " AND ".join(f"links.{field} {equal} orders.{field}" for field in FIELDS)
    values = ", ".join(
        f"{field} = (SELECT links.{field} FROM links WHERE links.id = orders.link_id)"
        for field in FIELDS
    )
    await connection.execute(
        f"UPDATE orders SET {values} WHERE link_id IS NOT NULL AND NOT EXISTS"
        f" (SELECT 1 FROM links WHERE links.id = orders.link_id AND {same})"
    )


async def _move_orders(connection: Connection, link_id: int, triple: Triple) -> None:
    """The link's orders keep its new triple (`Order.utm_source`...)."""
    values = ", ".join(f"{field} = {connection.mark(n)}" for n, field in enumerate(FIELDS, 1))
    await connection.execute(
        f"UPDATE orders SET {values} WHERE link_id = {connection.mark(len(FIELDS) + 1)}",
        [*_kept(triple), link_id],
    )


def _kept(triple: Triple) -> tuple[str | None, ...]:
    """A triple as an order keeps it: None for none, as the link's own columns hold it."""
    return tuple(value or None for value in triple)


async def _share_lock(connection: Connection) -> None:
    """The lock's shared side, taken by all that read links' triples to write them elsewhere
    (batches, credited orders, the re-filing): only a move waits for them."""
    if connection.postgres:
        await connection.execute("SELECT pg_advisory_xact_lock_shared($1)", [_LOCK])


async def _triples(connection: Connection, link_ids: Iterable[int]) -> dict[int, Triple]:
    """Each link's (source, medium, campaign), '' for none."""
    values = ", ".join(f"coalesce({field}, '{NONE}')" for field in FIELDS)
    if connection.postgres:
        sql = f"SELECT id, {values} FROM links WHERE id = ANY($1::bigint[])"
        params: list[Any] = [sorted(link_ids)]
    else:  # one parameter however many links (a rebuild's are all of them)
        sql = f"SELECT id, {values} FROM links WHERE id IN (SELECT value FROM json_each(?))"
        params = [json.dumps(sorted(link_ids))]
    return {int(link_id): (source, medium, campaign) for link_id, source, medium, campaign in
            await connection.fetch(sql, params)}  # fmt: skip


async def _add(connection: Connection, counts: Iterable[tuple[Triple, date, list[int]]]) -> None:
    """Sum counts by (day, triple) and (month, triple), and add them to the two tables."""
    days: dict[tuple[date, str, str, str], list[int]] = {}
    months: dict[tuple[date, str, str, str], list[int]] = {}
    for triple, day, numbers in counts:
        for sums, period in ((days, day), (months, day.replace(day=1))):
            summed = sums.setdefault((period, *triple), [0, 0, 0])
            for n, number in enumerate(numbers):
                summed[n] += number
    part = _PART if connection.postgres else 0
    for table, keys, sums in (("utm_days", _DAY_KEYS, days), ("utm_months", _MONTH_KEYS, months)):
        rows = [(*key, part, *numbers) for key, numbers in sorted(sums.items())]
        await batch.add_to_rollup(connection, table, keys, rows)
