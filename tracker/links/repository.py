"""The links API's SQL: find, list, filter and page links.

Other domains join `links` in their own queries (a report groups by link
columns, the redirect cache loads one link, attribution matches UTM tags,
spend names its link): each reads what it needs from the table beside its
own, rather than through a call per row here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tracker.models import Click, Link, LinkTag


@dataclass(frozen=True, slots=True)
class LinkFilter:
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    tag: str | None = None
    q: str | None = None


def _live() -> Select[Link]:
    return select(Link).where(Link.deleted_at.is_(None)).options(selectinload(Link.tags))


async def get_by_slug(session: AsyncSession, slug: str) -> Link | None:
    """A link that was not deleted, with its tags."""
    return await session.scalar(_live().where(Link.slug == slug))


async def taken_slugs(session: AsyncSession, slugs: Iterable[str]) -> set[str]:
    """Which of ``slugs`` exist, deleted links included: a slug is never reused."""
    wanted = list(slugs)
    if not wanted:
        return set()
    return set((await session.scalars(select(Link.slug).where(Link.slug.in_(wanted)))).all())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], filters: LinkFilter) -> Select[Any]:
    """Live links that match ``filters``: UTM fields exactly, a tag, text in slug/title/url."""
    query = query.where(Link.deleted_at.is_(None))
    for column, value in (
        (Link.utm_source, filters.utm_source),
        (Link.utm_medium, filters.utm_medium),
        (Link.utm_campaign, filters.utm_campaign),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.tag is not None:
        query = query.where(exists().where(LinkTag.link_id == Link.id, LinkTag.tag == filters.tag))
    if filters.q:
        pattern = f"%{_escape_like(filters.q.lower())}%"
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Link.slug, Link.title, Link.url)
                )
            )
        )
    return query


async def list_links(
    session: AsyncSession, filters: LinkFilter, after_id: int | None, limit: int
) -> list[Link]:
    """Newest first, keyset-paginated on the id."""
    query = _filtered(_live(), filters).order_by(Link.id.desc()).limit(limit)
    if after_id is not None:
        query = query.where(Link.id < after_id)
    return list((await session.scalars(query)).all())


async def matching_slugs(session: AsyncSession, filters: LinkFilter) -> list[str]:
    """The slugs of every link that matches, newest first: few bytes a link, however many."""
    query = _filtered(select(Link.slug), filters).order_by(Link.id.desc())
    return list((await session.scalars(query)).all())


async def by_slugs(session: AsyncSession, slugs: Sequence[str]) -> list[Link]:
    """The live links of ``slugs``, with their tags, in the order given."""
    found = {link.slug: link for link in await session.scalars(_live().where(Link.slug.in_(slugs)))}
    return [found[slug] for slug in slugs if slug in found]


async def values_in_use(session: AsyncSession, limit: int = 200) -> dict[str, list[str]]:
    """The UTM values and tags links already carry, most used first: what a form suggests."""
    found: dict[str, list[str]] = {}
    columns = {
        "utm_source": Link.utm_source,
        "utm_medium": Link.utm_medium,
        "utm_campaign": Link.utm_campaign,
        "utm_content": Link.utm_content,
        "utm_term": Link.utm_term,
        "tag": LinkTag.tag,
    }
    for name, column in columns.items():
        query = (
            select(column)
            .where(column.is_not(None))
            .group_by(column)
            .order_by(func.count().desc(), column)
            .limit(limit)
        )
        found[name] = [value for value in (await session.scalars(query)).all() if value]
    return found


async def titles(session: AsyncSession, slugs: Iterable[str]) -> dict[str, str]:
    """What a page shows for each of ``slugs``: its link's title, or the slug without one."""
    wanted = list(slugs)
    if not wanted:
        return {}
    query = select(Link.slug, Link.title).where(Link.slug.in_(wanted))
    return {slug: title or slug for slug, title in await session.execute(query)}


async def human_clicks(session: AsyncSession, link_id: int) -> int:
    """The human clicks written so far: where a limit set on a link in use starts counting."""
    written = await session.scalar(
        select(func.count())
        .select_from(Click)
        .where(Click.link_id == link_id, Click.is_bot.is_(False))
    )
    return written or 0
