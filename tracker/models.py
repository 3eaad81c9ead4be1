"""Every table, so that Alembic sees one metadata."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.db.names import WAITING_FOR_CLICK
from tracker.db.types import Base, BigIntPK, UTCDateTime


class ApiKey(Base):
    """A management key; only its SHA-256 is kept, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # admin: everything; read: reports and links, nothing that changes them.
    scope: Mapped[str] = mapped_column(String(8), default="admin", server_default="admin")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Link(Base):
    __tablename__ = "links"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    utm_source: Mapped[str | None] = mapped_column(String(200), index=True)
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200), index=True)
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_clicks: Mapped[int | None] = mapped_column(Integer)
    # Human clicks that some process was allowed to redirect (redirect/allowance.py): counted
    # only while max_clicks is set, and at most max_clicks.
    clicks_reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    redirect_status: Mapped[int] = mapped_column(SmallInteger, default=302)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tags: Mapped[list[LinkTag]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="LinkTag.tag"
    )


def link_key_on_sqlite() -> ForeignKeyConstraint:
    """The link of a click, a rollup day or a visitor day, checked on SQLite only.

    PostgreSQL checked it row by row, with a query and a lock on the link: half
    of its CPU per click (46 -> 23 µs). Nothing needs the check: the click
    writer is these tables' only writer and takes each id from a link row, and
    links are never deleted, only marked. On SQLite it costs nothing measurable,
    and dropping it there would rebuild the clicks table.
    """
    return ForeignKeyConstraint(["link_id"], ["links.id"]).ddl_if(dialect="sqlite")


class LinkChange(Base):
    """A link created, changed or deleted: how the processes of one SQLite database hear of it.

    Each process reads the rows after the last one it saw, four times a
    second. SQLite commits one writer at a time, so ids grow in commit order
    and none is skipped; AUTOINCREMENT keeps an id from being handed out
    twice once old rows are pruned. PostgreSQL processes hear of changes by
    NOTIFY instead and never write here (links/changes.py).
    """

    __tablename__ = "link_changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkTag(Base):
    __tablename__ = "link_tags"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


PARTS = ("referrer_host", "device_type", "browser", "os", "country")  # what a click is cut by


class Click(Base):
    """One GET of a live short link. Holds a visitor hash, never an IP address.

    On PostgreSQL the table is partitioned by month of `clicked_at`, and its
    primary key is (id, clicked_at), as a partitioned table's must hold the
    partition key: a replayed click has both the same, so it is still found
    and skipped. The migrations make it so (the ORM knows the id alone).
    """

    __tablename__ = "clicks"
    __table_args__ = (
        # A link's raw clicks in a period, read from the index alone: a link page's referrers,
        # devices and countries, and the partial days of a link's reports, never touch the
        # table (its rows are four times as wide, with the user agent and the referrer).
        Index("ix_clicks_link_report", "link_id", "clicked_at", "is_bot", "visitor_hash", *PARTS),
        link_key_on_sqlite(),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    link_id: Mapped[int] = mapped_column(BigIntPK)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    referrer_host: Mapped[str | None] = mapped_column(String(255))
    referrer: Mapped[str | None] = mapped_column(String(1024))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    device_type: Mapped[str] = mapped_column(String(16))
    browser: Mapped[str | None] = mapped_column(String(64))
    os: Mapped[str | None] = mapped_column(String(64))
    is_bot: Mapped[bool] = mapped_column(Boolean)
    visitor_hash: Mapped[str] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    query: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A request-header sign of a program (bots.NO_LANGUAGE), kept so that a reclassify keeps it.
    bot_signal: Mapped[str | None] = mapped_column(String(64))


class VisitorSalt(Base):
    """The secret of one UTC day for visitor hashes; deleted when the day is over."""

    __tablename__ = "visitor_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))


class AppSecret(Base):
    """A secret every host of a deployment shares (the dashboard's cookie signing key), made
    by whichever process needs it first."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One signed webhook delivery, raw body kept, so orders can be recomputed at any time."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("platform", "shop", "event_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    shop: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


# What a report reads of an order besides its time and its link (has_refunds: whether its
# refunds must be looked up).
REPORT_COLUMNS = (
    "status", "is_test", "currency", "amount_minor", "ms_to_order", "has_refunds",
    "utm_source", "utm_medium", "utm_campaign",
)  # fmt: skip
REFUNDED_COLUMNS = (
    "occurred_at", "status", "is_test", "link_id", "platform", "shop", "external_id",
)  # fmt: skip


# Written out, not bound, wherever it is asked: the planners then match ix_orders_refunded.
HAS_REFUNDS = "has_refunds"


class Order(Base):
    """A shop order, joined to the click that brought the buyer where one can be found.

    Amounts are integers in the currency's minor unit (cents; yen for JPY): exact
    on both databases, where SQLite would sum NUMERIC columns in floating point.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("platform", "shop", "external_id"),
        # Every column a report reads from an order: its range scans never visit the table.
        Index("ix_orders_report", "occurred_at", "link_id", *REPORT_COLUMNS),
        # The same, link first: for the reports of a few links (one link, a campaign, a tag).
        Index("ix_orders_link_report", "link_id", "occurred_at", *REPORT_COLUMNS),
        # The few orders still waiting for their click, checked after every click batch.
        Index(
            "ix_orders_waiting_for_click",
            "occurred_at",
            postgresql_where=text(WAITING_FOR_CLICK),
            sqlite_where=text(WAITING_FOR_CLICK),
        ),
        # The few refunded orders, all a report's refunds need: it never scans every order.
        Index(
            "ix_orders_refunded",
            *REFUNDED_COLUMNS,
            postgresql_where=text(HAS_REFUNDS),
            sqlite_where=text(HAS_REFUNDS),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    shop: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    click_id: Mapped[str | None] = mapped_column(String(64), index=True)
    landing_url: Mapped[str | None] = mapped_column(String(2048))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id"))
    # The link's source, medium and campaign, kept with the order (credited with the link,
    # moved with its triple: links/utm_rollup.py): a report by them reads no link, which
    # was a third of a year by campaign's pass over 200,000 orders.
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    # The click's id without a foreign key: retention may remove the click, the order stays.
    attributed_click_id: Mapped[str | None] = mapped_column(String(32))
    attribution: Mapped[str] = mapped_column(String(10), default="none")
    # Click to order in whole milliseconds, kept when rule 1 credits the click: medians never
    # join the clicks table, and integers travel from SQLite as text and back cheaply.
    ms_to_order: Mapped[int | None] = mapped_column(BigInteger)
    # Set once a refund of this order is stored, whichever arrived first; never unset.
    has_refunds: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Refund(Base):
    """Money returned on an order, counted once by its own id; it may arrive before its order."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("platform", "shop", "external_id"),
        Index("ix_refunds_order", "platform", "shop", "order_external_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    shop: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))
    order_external_id: Mapped[str] = mapped_column(String(255))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Which order a refund belongs to: the same shop on the same platform, the order's own id.
REFUND_OF_ORDER = and_(
    Refund.platform == Order.platform,
    Refund.shop == Order.shop,
    Refund.order_external_id == Order.external_id,
)


class Spend(Base):
    """What a link or a whole campaign cost on one day, and how often it was seen."""

    __tablename__ = "spend"
    __table_args__ = (UniqueConstraint("target", "day", "currency"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # "link:<id>" or "campaign:<utm_campaign>": one row per target, day and currency.
    target: Mapped[str] = mapped_column(String(220))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id"), index=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(200), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class _RolledUp:
    """What a rollup row counts for its link and day, or month."""

    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    bot_clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    unique_visitors: Mapped[int] = mapped_column(BigInteger, default=0)


class ClickDay(_RolledUp, Base):
    """Clicks per link and day (in TRACKER_REPORT_TIMEZONE), written with the clicks themselves.

    Reports read whole days from here instead of scanning raw clicks, which keeps
    them fast at tens of millions of clicks.
    """

    __tablename__ = "click_days"
    __table_args__ = (
        # On SQLite a report's range scan reads the counts from this index alone, never the
        # table. PostgreSQL keeps the day alone: with the counts in an index, no update of a
        # row is HOT, and the writer's upserts would write every index of the table again.
        Index(
            "ix_click_days_report", "day", "link_id", "clicks", "bot_clicks", "unique_visitors"
        ).ddl_if(dialect="sqlite"),
        Index("ix_click_days_day", "day").ddl_if(dialect="postgresql"),
        link_key_on_sqlite(),
    )

    link_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class ClickMonth(_RolledUp, Base):
    """`click_days` summed by month (the month of the day; `month` is its first day).

    A year's report for 20,000 links reads 240,000 of these instead of 7.3M
    days: the months a range touches come from here, and from `click_days` the
    days at its edges (added, or subtracted from a month read whole). Written
    with the days, in the same transaction, so the two never disagree.
    """

    __tablename__ = "click_months"
    __table_args__ = (
        Index(
            "ix_click_months_report",
            "month",
            "link_id",
            "clicks",
            "bot_clicks",
            "unique_visitors",
        ).ddl_if(dialect="sqlite"),
        Index("ix_click_months_month", "month").ddl_if(dialect="postgresql"),
        link_key_on_sqlite(),
    )

    link_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)


class _ByUtm(_RolledUp):
    """A rollup row of the links that share a source, medium and campaign ('' for none).

    A triple's day is split in parts, one per PostgreSQL writer process (drawn at
    random): a few rows that every batch adds to would make two writers wait for each
    other's commits (two writers: 2.44-2.52 -> 1.68-1.85 times one writer's clicks a
    second, `bench/ingest.py`). Reports sum the parts.
    """

    utm_source: Mapped[str] = mapped_column(String(200))
    utm_medium: Mapped[str] = mapped_column(String(200))
    utm_campaign: Mapped[str] = mapped_column(String(200))
    part: Mapped[int] = mapped_column(SmallInteger)


class UtmDay(_ByUtm, Base):
    """`click_days` summed over the links of each (source, medium, campaign): links/utm_rollup.py.

    A report by campaign, source or medium, or by time, with no finer filter,
    reads a row per triple instead of a row per link. Keyed by the day first: a
    report reads a range of days. SQLite keeps the rows in that order (no rowid).
    """

    __tablename__ = "utm_days"
    __table_args__ = (
        PrimaryKeyConstraint("day", "utm_source", "utm_medium", "utm_campaign", "part"),
        {"sqlite_with_rowid": False},
    )

    day: Mapped[date] = mapped_column(Date)


class UtmMonth(_ByUtm, Base):
    """`utm_days` summed by month (`month` is its first day), as `click_months` is."""

    __tablename__ = "utm_months"
    __table_args__ = (
        PrimaryKeyConstraint("month", "utm_source", "utm_medium", "utm_campaign", "part"),
        {"sqlite_with_rowid": False},
    )

    month: Mapped[date] = mapped_column(Date)


class VisitorDay(Base):
    """Which visitors a link has already seen today: counts them once in `click_days`.

    Pruned once its day is over, like the salts behind the hashes.
    """

    __tablename__ = "visitor_days"
    __table_args__ = (link_key_on_sqlite(),)

    link_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    visitor_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
