"""`tracker demo`: a realistic shop in an empty database, through the services the API uses.

Three campaigns over four channels; 60 days of clicks with a weekly rhythm
and link-preview bots, written by the click writer's own batch path; orders
in two currencies that arrive as Shopify, WooCommerce, Stripe and custom-shop
deliveries and go through the real parsers and attribution (credited by
click, by UTM tags and by returning customer, one left unattributed, a
refund, a cancellation); and daily spend with impressions. Everything is
derived from a seed, so two demos with the same seed tell the same story.
Nothing personal is made up: customers are opaque ids.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tracker.clicks.record import ClickRecord
from tracker.clicks.writer import write_records
from tracker.clock import unix_micros, utcnow
from tracker.config import Settings
from tracker.db.engine import EngineDatabase
from tracker.links import service as links_service
from tracker.links.destinations import Policy
from tracker.links.schemas import LinkCreate
from tracker.models import Link
from tracker.orders import intake
from tracker.orders.registry import PLATFORMS
from tracker.spend import service as spend_service
from tracker.spend.schemas import SpendCreate

DAYS = 60
SHOP = "https://demo-shop.example.com"
CAMPAIGNS = {
    "spring-sale": ("/collections/spring", "Spring sale"),
    "new-mugs": ("/products/blue-mug", "New mugs"),
    "gift-guide": ("/pages/gift-guide", "Gift guide"),
}
CHANNELS = (("instagram", "social"), ("facebook", "social"), ("tiktok", "social"),
            ("newsletter", "email"))  # fmt: skip
# How many people a channel's link brings on an ordinary weekday, and how many buy.
_REACH = {"instagram": 38, "facebook": 22, "tiktok": 30, "newsletter": 12}
_BUYS = {"instagram": 0.025, "facebook": 0.02, "tiktok": 0.012, "newsletter": 0.05}
_WEEKDAY = (0.8, 0.85, 0.9, 1.0, 1.15, 1.45, 1.35)  # Monday … Sunday
_PEOPLE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 330.0.0.36.89",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.122 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
)
_BOTS = (
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
)
_REFERRERS = {
    "instagram": "https://l.instagram.com/",
    "facebook": "https://lm.facebook.com/",
    "tiktok": "https://www.tiktok.com/",
    "newsletter": None,
}
_COUNTRIES = ("DE", "DE", "AT", "CH", "FR", "NL", "US", "GB")


class DemoRefused(Exception):
    """The database already holds links: a demo would mix made-up figures into real ones."""


@dataclass
class Summary:
    links: int = 0
    clicks: int = 0
    deliveries: int = 0
    spend: int = 0


@dataclass(frozen=True, slots=True)
class _Sale:
    click: ClickRecord
    source: str
    campaign: str


async def fill(
    engine: AsyncEngine, session: AsyncSession, settings: Settings, *, force: bool, seed: int = 7
) -> Summary:
    """Links, clicks, orders and spend of a made-up shop; raises DemoRefused unless the database
    has no links yet (or ``force``)."""
    if not force and (await session.scalar(select(func.count()).select_from(Link))):
        raise DemoRefused("the database already holds links; pass --force to add a demo anyway")
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    summary = Summary()
    links = await _links(session, rng)
    summary.links = len(links)
    await session.commit()  # the click writer works on its own connection

    sales: list[_Sale] = []
    records: list[ClickRecord] = []
    for (campaign, source), link_id in links.items():
        for record in _clicks(rng, now, link_id, source):
            records.append(record)
            if record.is_bot is None and rng.random() < _BUYS[source]:
                sales.append(_Sale(record, source, campaign))
    records.sort(key=lambda record: record.clicked_at_us)
    zone = ZoneInfo(settings.report_timezone)
    database = EngineDatabase(engine)
    for start in range(0, len(records), 5000):
        summary.clicks += await write_records(database, records[start : start + 5000], zone)

    summary.deliveries = await _orders(session, settings, rng, now, sales)
    summary.spend = await _spend(session, rng, now)
    await session.commit()
    return summary


async def _links(session: AsyncSession, rng: random.Random) -> dict[tuple[str, str], int]:
    batch = []
    for campaign, (path, title) in CAMPAIGNS.items():
        for source, medium in CHANNELS:
            post = f"{source[:2]}-{rng.randrange(100, 999)}"
            batch.append(
                LinkCreate(
                    url=f"{SHOP}{path}", utm_campaign=campaign, utm_source=source,
                    utm_medium=medium, utm_content=post, title=f"{title} · {source}",
                    tags=["demo", campaign],
                )
            )  # fmt: skip
    created = await links_service.create_links(session, batch, Policy())
    return {(link.utm_campaign or "", link.utm_source or ""): link.id for link in created}


def _clicks(rng: random.Random, now: datetime, link_id: int, source: str) -> list[ClickRecord]:
    """60 days of one link's clicks: a weekly rhythm, a launch bump, link-preview bots."""
    found = []
    for days_ago in range(DAYS, -1, -1):
        day = now - timedelta(days=days_ago)
        launch = 2.2 if 40 <= days_ago <= 44 else 1.0
        people = int(_REACH[source] * _WEEKDAY[day.weekday()] * launch * rng.uniform(0.6, 1.3))
        bots = rng.randrange(1, 4)
        # Some people come back the same day: as many visitors as three clicks in four.
        visitors = max(1, people * 3 // 4)
        for index in range(people + bots):
            moment = day.replace(hour=0, minute=0, second=0) + timedelta(
                seconds=rng.randrange(7 * 3600, 23 * 3600)
            )
            if moment >= now:
                continue
            bot = index >= people
            agent = rng.choice(_BOTS) if bot else rng.choice(_PEOPLE)
            found.append(
                ClickRecord(
                    f"demo{secrets.token_urlsafe(12)}", link_id, unix_micros(moment), agent,
                    None if bot else _REFERRERS[source],
                    _visitor(link_id, day, rng.randrange(visitors) if not bot else -index),
                    None if bot else rng.choice(_COUNTRIES), None, bot or None,
                )
            )  # fmt: skip
    return found


def _visitor(link_id: int, day: datetime, person: int) -> str:
    """A visitor hash as the redirect makes them: the same person on the same day, the same."""
    text = f"{link_id}:{day.date()}:{person}".encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


async def _orders(
    session: AsyncSession,
    settings: Settings,
    rng: random.Random,
    now: datetime,
    sales: list[_Sale],
) -> int:
    """Each sale as its shop platform delivers it: Shopify and WooCommerce in EUR, Stripe in USD,
    the custom shop's own endpoint in EUR; then the stories the reports must tell apart."""
    deliveries: list[tuple[str, dict[str, str], dict[str, object]]] = []
    for number, sale in enumerate(sales, start=1001):
        placed = datetime.fromtimestamp(sale.click.clicked_at_us / 1e6, now.tzinfo)
        placed = min(placed + timedelta(minutes=rng.randrange(2, 180)), now)
        customer = f"cust-{rng.randrange(1, 400)}"
        kind = number % 4
        if kind == 0:
            deliveries.append(_shopify(number, placed, _money(rng, 18, 90), sale, customer))
        elif kind == 1:
            deliveries.append(_woocommerce(number, placed, _money(rng, 18, 90), sale, customer))
        elif kind == 2:
            deliveries.append(_stripe(number, placed, rng.randrange(1900, 9900), sale, customer))
        else:
            deliveries.append(_generic(number, placed, _money(rng, 18, 90), customer, sale))
    week_ago = unix_micros(now - timedelta(days=7))
    recent = [sale for sale in sales if sale.click.clicked_at_us >= week_ago]
    if recent:
        sale = min(recent, key=lambda sale: sale.click.clicked_at_us)
        clicked = datetime.fromtimestamp(sale.click.clicked_at_us / 1e6, now.tzinfo)
        first, later = clicked + timedelta(minutes=30), clicked + timedelta(days=3)
        # A returning customer, credited to the link of their first order.
        deliveries.append(_generic(9000, first, Decimal("35.00"), "cust-returning", sale))
        deliveries.append(_generic(9001, later, Decimal("42.00"), "cust-returning", None))
        # Tagged with UTM parameters but no click id: credited by the tags.
        deliveries.append(_generic(9002, later, Decimal("58.00"), "cust-utm", None,
                                   landing=f"{SHOP}/?utm_source=instagram&utm_medium=social"
                                   "&utm_campaign=new-mugs"))  # fmt: skip
        # From nowhere we track.
        deliveries.append(_generic(9003, later, Decimal("24.00"), "cust-direct", None))
        # Refunded in part, and cancelled.
        deliveries.append(_generic(9004, first, Decimal("80.00"), "cust-refund", sale,
                                   refunded="30.00"))  # fmt: skip
        deliveries.append(_generic(9005, first, Decimal("27.00"), "cust-cancel", sale,
                                   status="cancelled"))  # fmt: skip
    for name, headers, payload in deliveries:
        body = json.dumps(payload).encode()
        platform = PLATFORMS[name]
        delivery_id = await intake.store_delivery(
            session, name, platform.envelope(headers, body), body
        )
        if delivery_id is not None:
            await intake.process(session, delivery_id, settings)
    return len(deliveries)


Delivery = tuple[str, dict[str, str], dict[str, object]]


def _shopify(number: int, placed: datetime, total: Decimal, sale: _Sale, customer: str) -> Delivery:
    headers = {"x-shopify-topic": "orders/create", "x-shopify-shop-domain": "demo.myshopify.com",
               "x-shopify-event-id": f"demo-{number}"}  # fmt: skip
    return "shopify", headers, {
        "id": number, "created_at": placed.isoformat(), "currency": "EUR",
        "total_price": str(total), "financial_status": "paid", "customer": {"id": customer},
        "note_attributes": [{"name": "tclid", "value": sale.click.id}],
    }  # fmt: skip


def _woocommerce(
    number: int, placed: datetime, total: Decimal, sale: _Sale, customer: str
) -> Delivery:
    headers = {"x-wc-webhook-topic": "order.created", "x-wc-webhook-source": "https://demo.shop/",
               "x-wc-webhook-delivery-id": f"demo-{number}"}  # fmt: skip
    return "woocommerce", headers, {
        "id": number, "status": "completed", "currency": "EUR", "total": str(total),
        "date_created_gmt": placed.replace(tzinfo=None).isoformat(), "customer_id": customer,
        "meta_data": [{"key": "_tclid", "value": sale.click.id}],
    }  # fmt: skip


def _stripe(number: int, placed: datetime, cents: int, sale: _Sale, customer: str) -> Delivery:
    created = int(placed.timestamp())
    return "stripe", {}, {
        "id": f"evt_demo_{number}", "type": "checkout.session.completed", "created": created,
        "livemode": True, "data": {"object": {
            "id": f"cs_demo_{number}", "amount_total": cents, "currency": "usd",
            "created": created, "payment_status": "paid", "payment_intent": f"pi_demo_{number}",
            "client_reference_id": sale.click.id, "customer": customer,
        }},
    }  # fmt: skip


def _generic(
    number: int,
    placed: datetime,
    amount: Decimal,
    customer: str,
    sale: _Sale | None,
    *,
    landing: str | None = None,
    refunded: str | None = None,
    status: str = "paid",
) -> Delivery:
    order: dict[str, object] = {
        "order_id": f"D-{number}", "amount": str(amount), "currency": "EUR",
        "occurred_at": placed.isoformat(), "status": status, "customer_id": customer,
    }  # fmt: skip
    if sale is not None:
        order["click_id"] = sale.click.id
    if landing is not None:
        order["landing_url"] = landing
    if refunded is not None:
        order["refunded_amount"] = refunded
    return "generic", {"webhook-id": f"msg_demo_{number}"}, order


async def _spend(session: AsyncSession, rng: random.Random, now: datetime) -> int:
    """What each campaign cost a day, and how often its posts were seen."""
    recorded = 0
    for days_ago in range(DAYS, -1, -1):
        day = (now - timedelta(days=days_ago)).date()
        for campaign in CAMPAIGNS:
            amount = _money(rng, 20, 60)
            impressions = rng.randrange(1500, 6000)
            await spend_service.record(
                session,
                SpendCreate(utm_campaign=campaign, date=day, amount=amount, currency="EUR",
                            impressions=impressions),
            )  # fmt: skip
            recorded += 1
    return recorded
