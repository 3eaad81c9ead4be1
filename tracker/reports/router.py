"""The reports API: `/api/stats`, `/api/stats.csv`, `/api/links/{slug}/stats`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from tracker.auth import API_RESPONSES, ApiKeyDep
from tracker.db.engine import dialect_of
from tracker.db.session import ReadersDep, SessionDep, SettingsDep
from tracker.links import service as links_service
from tracker.reports import export, service
from tracker.reports.queries import Dimension, Scope
from tracker.reports.schemas import LinkReport, Report, Row

router = APIRouter(prefix="/api", tags=["reports"], responses=API_RESPONSES)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid API key"},
    422: {"description": "a parameter is wrong; the message names it"},
}

From = Annotated[
    str | None, Query(alias="from", description="date or datetime; default: 30 whole days ago")
]
To = Annotated[str | None, Query(description="date (inclusive) or datetime; default: now")]
Tz = Annotated[str, Query(description="IANA time zone that cuts days, weeks and months")]


def stats_scope(
    settings: SettingsDep,
    session: SessionDep,
    start: From = None,
    to: To = None,
    tz: Tz = "UTC",
    group_by: Dimension | None = None,
    link: str | None = None,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
    tag: str | None = None,
) -> Scope:
    """The query parameters of /api/stats and /api/stats.csv, read once."""
    return service.scope_for(
        settings, dialect=dialect_of(session), start=start, end=to, tz=tz, group_by=group_by,
        link=link, utm_source=utm_source, utm_medium=utm_medium, utm_campaign=utm_campaign,
        tag=tag,
    )  # fmt: skip


ScopeDep = Annotated[Scope, Depends(stats_scope)]


@router.get("/stats", responses=_ERRORS)
async def stats(scope: ScopeDep, readers: ReadersDep, _key: ApiKeyDep) -> Report:
    """Impressions → clicks → orders → revenue → return on spend, per dimension."""
    return await service.report(readers, scope)


@router.get(
    "/stats.csv", responses={**_ERRORS, 200: {"content": {"text/csv": {}}}}, response_class=Response
)
async def stats_csv(scope: ScopeDep, readers: ReadersDep, _key: ApiKeyDep) -> Response:
    """The same rows as CSV, one column per metric and currency."""
    data = await service.report(readers, scope)
    rows = data.rows if scope.group_by else [Row(key="total", **dict(data.totals))]
    name = f"tracker-stats-{scope.group_by or 'total'}-{scope.start:%Y%m%d}-{scope.end:%Y%m%d}.csv"
    return Response(
        export.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/links/{slug}/stats", responses={**_ERRORS, 404: {"description": "no such link"}})
async def link_stats(
    slug: str,
    session: SessionDep,
    readers: ReadersDep,
    settings: SettingsDep,
    _key: ApiKeyDep,
    start: From = None,
    to: To = None,
    tz: Tz = "UTC",
) -> LinkReport:
    """One link's metrics and its daily series (every day of the period, zeros included)."""
    await links_service.get_link(session, slug)
    scope = service.scope_for(
        settings, dialect=dialect_of(session), start=start, end=to, tz=tz, group_by=None, link=slug
    )
    return await service.link_report(readers, scope)
