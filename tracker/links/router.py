"""The links API: `/api/links`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from tracker.auth import API_RESPONSES, AdminKeyDep, ApiKeyDep
from tracker.config import Settings
from tracker.db.session import SessionDep, SettingsDep
from tracker.links import qr
from tracker.links import service as links_service
from tracker.links.changes import LinkChangesDep
from tracker.links.destinations import Policy
from tracker.links.repository import LinkFilter, list_links
from tracker.links.schemas import BulkCreate, LinkCreate, LinkList, LinkPage, LinkRead, LinkUpdate
from tracker.models import Link

router = APIRouter(prefix="/api/links", tags=["links"], responses=API_RESPONSES)

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "missing or invalid API key"},
    404: {"description": "no such link"},
}


def _read(settings: Settings, link: Link) -> LinkRead:
    return links_service.link_read(link, settings.base_url)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={401: _ERRORS[401], 409: {"description": "slug taken"}},
)
async def create_link(
    data: LinkCreate,
    session: SessionDep,
    settings: SettingsDep,
    changes: LinkChangesDep,
    _key: AdminKeyDep,
) -> LinkRead:
    """Mint a short link; the UTM fields are merged into its destination."""
    link = await links_service.create_link(session, data, Policy.of(settings))
    changes.after_commit(session, link.slug)
    return _read(settings, link)


@router.post(
    "/bulk",
    status_code=status.HTTP_201_CREATED,
    responses={401: _ERRORS[401], 409: {"description": "a slug is taken; nothing was created"}},
)
async def create_links_bulk(
    data: BulkCreate,
    session: SessionDep,
    settings: SettingsDep,
    changes: LinkChangesDep,
    _key: AdminKeyDep,
) -> LinkList:
    """One link per channel for one destination and campaign: all are created, or none."""
    links = await links_service.create_bulk(session, data, Policy.of(settings))
    changes.after_commit(session, *(link.slug for link in links))
    return LinkList(items=[_read(settings, link) for link in links])


@router.get("", responses={401: _ERRORS[401]})
async def list_links_page(
    session: SessionDep,
    settings: SettingsDep,
    _key: ApiKeyDep,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
    tag: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LinkPage:
    """Links, newest first, filtered; follow `next_cursor` for more."""
    after_id = links_service.decode_cursor(cursor) if cursor else None
    filters = LinkFilter(utm_source, utm_medium, utm_campaign, tag, q)
    links = await list_links(session, filters, after_id, limit + 1)
    page, more = links[:limit], len(links) > limit
    return LinkPage(
        items=[_read(settings, link) for link in page],
        next_cursor=links_service.encode_cursor(page[-1].id) if more else None,
    )


@router.get("/{slug}", responses=_ERRORS)
async def get_link(
    slug: str, session: SessionDep, settings: SettingsDep, _key: ApiKeyDep
) -> LinkRead:
    """One link."""
    return _read(settings, await links_service.get_link(session, slug))


@router.patch("/{slug}", responses=_ERRORS)
async def update_link(
    slug: str,
    data: LinkUpdate,
    session: SessionDep,
    settings: SettingsDep,
    changes: LinkChangesDep,
    _key: AdminKeyDep,
) -> LinkRead:
    """Change any field but the slug; `disabled: true` makes the short link answer 410."""
    link = await links_service.update_link(session, slug, data, Policy.of(settings))
    changes.after_commit(session, slug)
    return _read(settings, link)


@router.delete("/{slug}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_link(
    slug: str, session: SessionDep, changes: LinkChangesDep, _key: AdminKeyDep
) -> None:
    """Stop redirecting (410); the link's clicks and orders stay in the reports."""
    await links_service.delete_link(session, slug)
    changes.after_commit(session, slug)


@router.get(
    "/{slug}/qr",
    responses={
        **_ERRORS,
        200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "the QR code"},
    },
    response_class=Response,
)
async def link_qr(
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    _key: ApiKeyDep,
    format: qr.QrFormat = "svg",
    scale: Annotated[int, Query(ge=1, le=40)] = 10,
) -> Response:
    """A QR code of the short URL, as SVG or PNG."""
    link = await links_service.get_link(session, slug)
    short_url = _read(settings, link).short_url
    return Response(qr.render(short_url, format, scale), media_type=qr.MEDIA_TYPES[format])
