"""Spend rows: one per link or campaign, day and currency; a second POST replaces the first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import money
from tracker.errors import NotFound
from tracker.links import service as links_service
from tracker.models import Link, Spend
from tracker.spend.schemas import SpendCreate, SpendRead


async def record(session: AsyncSession, data: SpendCreate) -> tuple[Spend, bool]:
    """Store the spend; returns it and whether it is new (False: it replaced the day's figure)."""
    link: Link | None = None
    if data.link is not None:
        link = await links_service.get_link(session, data.link)
        target = f"link:{link.id}"
    else:
        target = f"campaign:{data.utm_campaign}"
    existing = await session.scalar(
        select(Spend).where(
            Spend.target == target, Spend.day == data.date, Spend.currency == data.currency
        )
    )
    spend = existing or Spend(target=target, day=data.date, currency=data.currency)
    spend.link_id = link.id if link else None
    spend.utm_campaign = data.utm_campaign
    spend.amount_minor = money.to_minor(data.amount, data.currency)
    spend.impressions = data.impressions
    if existing is None:
        session.add(spend)
    await session.flush()
    return spend, existing is None


async def listing(
    session: AsyncSession,
    start: date | None,
    end: date | None,
    link: str | None,
    utm_campaign: str | None,
) -> Sequence[tuple[Spend, str | None]]:
    query = select(Spend, Link.slug).outerjoin(Link, Link.id == Spend.link_id)
    query = query.order_by(Spend.day, Spend.id)
    if start is not None:
        query = query.where(Spend.day >= start)
    if end is not None:
        query = query.where(Spend.day <= end)
    if link is not None:
        query = query.where(Link.slug == link)
    if utm_campaign is not None:
        query = query.where(Spend.utm_campaign == utm_campaign)
    return [(spend, slug) for spend, slug in await session.execute(query)]


async def newest(session: AsyncSession, limit: int) -> Sequence[tuple[Spend, str | None]]:
    """The latest days recorded, newest first."""
    query = (
        select(Spend, Link.slug)
        .outerjoin(Link, Link.id == Spend.link_id)
        .order_by(Spend.day.desc(), Spend.id.desc())
        .limit(limit)
    )
    return [(spend, slug) for spend, slug in await session.execute(query)]


async def delete(session: AsyncSession, spend_id: int) -> None:
    spend = await session.get(Spend, spend_id)
    if spend is None:
        raise NotFound(f"no spend with id {spend_id}")
    await session.delete(spend)


def spend_read(spend: Spend, slug: str | None) -> SpendRead:
    return SpendRead(
        id=spend.id,
        link=slug,
        utm_campaign=spend.utm_campaign,
        date=spend.day,
        amount=str(money.from_minor(spend.amount_minor, spend.currency)),
        currency=spend.currency,
        impressions=spend.impressions,
        created_at=spend.created_at,
    )
