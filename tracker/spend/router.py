"""The spend API: `/api/spend`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from tracker.auth import API_RESPONSES, AdminKeyDep, ApiKeyDep
from tracker.db.session import SessionDep
from tracker.spend import service
from tracker.spend.schemas import SpendCreate, SpendList, SpendRead

router = APIRouter(prefix="/api/spend", tags=["spend"], responses=API_RESPONSES)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "replaced the figure already recorded for that day"}},
)
async def record_spend(
    data: SpendCreate, response: Response, session: SessionDep, _key: AdminKeyDep
) -> SpendRead:
    """Record what a link or a campaign cost on a day (and its impressions)."""
    spend, created = await service.record(session, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return service.spend_read(spend, data.link)


@router.get("")
async def list_spend(
    session: SessionDep,
    _key: ApiKeyDep,
    start: date | None = None,
    end: date | None = None,
    link: str | None = None,
    utm_campaign: str | None = None,
) -> SpendList:
    """Recorded spend, by day; `start` and `end` are inclusive dates."""
    rows = await service.listing(session, start, end, link, utm_campaign)
    return SpendList(items=[service.spend_read(spend, slug) for spend, slug in rows])


@router.delete("/{spend_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_spend(
    spend_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, _key: AdminKeyDep
) -> None:
    """Forget a recorded figure."""
    await service.delete(session, spend_id)
