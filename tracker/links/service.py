"""The rules of links: slug allocation, tags, soft deletion, the read model."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.clock import utcnow
from tracker.db.engine import raw
from tracker.errors import LinkNotFound, SlugTaken, TrackerError, Unprocessable
from tracker.links import repository, slugs, utm_rollup
from tracker.links.changes import record_changes
from tracker.links.destinations import Policy
from tracker.links.schemas import BulkCreate, LinkCreate, LinkRead, LinkUpdate
from tracker.links.utm import UTM_FIELDS, destination
from tracker.models import Link, LinkTag

_GENERATION_ATTEMPTS = 8


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _new_link(data: LinkCreate, slug: str) -> Link:
    return Link(
        slug=slug,
        url=data.url,
        **{field: getattr(data, field) for field in UTM_FIELDS},
        title=data.title,
        expires_at=data.expires_at,
        max_clicks=data.max_clicks,
        redirect_status=data.redirect_status,
        tags=[LinkTag(tag=tag) for tag in _unique(data.tags)],
    )


async def _free_generated_slug(session: AsyncSession, avoid: set[str]) -> str:
    for _ in range(_GENERATION_ATTEMPTS):
        candidate = slugs.generate()
        if candidate not in avoid and not await repository.taken_slugs(session, [candidate]):
            return candidate
    raise TrackerError("could not allocate a free slug")  # 62**7 makes this practically unreachable


async def create_links(
    session: AsyncSession, batch: Sequence[LinkCreate], policy: Policy
) -> list[Link]:
    """Create every link or none; a taken or repeated slug is a 409 naming it, a destination
    the policy refuses a 422."""
    for data in batch:
        policy.check(data.url)
    wanted = [data.slug for data in batch if data.slug is not None]
    seen: set[str] = set()
    for slug in wanted:
        if slug in seen:
            raise SlugTaken(slug)
        seen.add(slug)
    taken = await repository.taken_slugs(session, wanted)
    if taken:
        raise SlugTaken(sorted(taken)[0])
    links = []
    for data in batch:
        slug = data.slug or await _free_generated_slug(session, seen)
        seen.add(slug)
        links.append(_new_link(data, slug))
    session.add_all(links)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took one of the slugs meanwhile
        raise SlugTaken(", ".join(link.slug for link in links)) from exc
    await record_changes(session, tuple(link.slug for link in links))  # unknown a moment ago
    return links


async def create_link(session: AsyncSession, data: LinkCreate, policy: Policy) -> Link:
    (link,) = await create_links(session, [data], policy)
    return link


async def create_bulk(session: AsyncSession, data: BulkCreate, policy: Policy) -> list[Link]:
    return await create_links(session, data.links(), policy)


async def get_link(session: AsyncSession, slug: str) -> Link:
    link = await repository.get_by_slug(session, slug)
    if link is None:
        raise LinkNotFound(slug)
    return link


async def update_link(session: AsyncSession, slug: str, data: LinkUpdate, policy: Policy) -> Link:
    link = await get_link(session, slug)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        policy.check(changes["url"])
    for required in ("url", "redirect_status", "disabled"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    if "tags" in changes:
        link.tags = _retag(link.tags, changes.pop("tags") or [])
    if any(field in changes for field in utm_rollup.FIELDS):  # before the link is written
        await utm_rollup.move(await raw(await session.connection()), link.id, changes)
    if changes.get("max_clicks") is not None and link.max_clicks is None:
        link.clicks_reserved = await repository.human_clicks(session, link.id)
    for field, value in changes.items():
        setattr(link, field, value)
    link.updated_at = utcnow()
    await session.flush()
    await record_changes(session, (slug,))
    return link


def _retag(current: list[LinkTag], tags: Sequence[str]) -> list[LinkTag]:
    """Keep the rows of tags that stay, so the flush never deletes and re-inserts one key."""
    existing = {row.tag: row for row in current}
    return [existing.get(tag) or LinkTag(tag=tag) for tag in _unique(tags)]


async def delete_link(session: AsyncSession, slug: str) -> None:
    """Stop redirecting; the clicks and orders stay for the reports."""
    link = await get_link(session, slug)
    link.deleted_at = utcnow()
    await session.flush()
    await record_changes(session, (slug,))


def encode_cursor(link_id: int) -> str:
    return base64.urlsafe_b64encode(str(link_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise Unprocessable("cursor is not one this API returned") from exc


def link_read(link: Link, base_url: str) -> LinkRead:
    fields = {field: getattr(link, field) for field in UTM_FIELDS}
    return LinkRead(
        slug=link.slug,
        short_url=f"{base_url}/{link.slug}",
        url=link.url,
        destination=destination(link.url, fields),
        **fields,
        title=link.title,
        tags=[tag.tag for tag in link.tags],
        expires_at=link.expires_at,
        max_clicks=link.max_clicks,
        redirect_status=link.redirect_status,
        disabled=link.disabled,
        created_at=link.created_at,
        updated_at=link.updated_at,
    )
