"""`GET /api/ua`: what Tracker makes of a user agent, and why; `tracker ua` prints the same."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field

from tracker.auth import API_RESPONSES, ApiKeyDep
from tracker.clicks.visitor import MAX_USER_AGENT, read_user_agent

router = APIRouter(prefix="/api", tags=["clicks"], responses=API_RESPONSES)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid API key"},
    422: {"description": "the user agent is longer than 8,192 characters"},
}


class UserAgentReading(BaseModel):
    """A click's user agent as the writer reads it: the bot verdict with its rule, the device."""

    user_agent: str = Field(description=f"as a click stores it (first {MAX_USER_AGENT} characters)")
    is_bot: bool
    rule: str | None = Field(
        description="what made it a bot: the list and its version, the words it matched, "
        "the rule, and for our own rules the page that documents the bot; null for a person"
    )
    device: str = Field(description="desktop, mobile, tablet, bot or other")
    browser: str | None
    os: str | None

    @classmethod
    def of(cls, user_agent: str) -> UserAgentReading:
        stored = user_agent[:MAX_USER_AGENT]
        info = read_user_agent(stored)
        return cls(
            user_agent=stored, is_bot=info.is_bot, rule=info.rule, device=info.device_type,
            browser=info.browser, os=info.os,
        )  # fmt: skip


@router.get("/ua", responses=_ERRORS)
async def explain_user_agent(
    _key: ApiKeyDep,
    user_agent: Annotated[
        str | None,
        Query(max_length=8192, description="the user agent to read; default: the caller's own"),
    ] = None,
    own: Annotated[str, Header(alias="User-Agent", include_in_schema=False)] = "",
) -> UserAgentReading:
    """Bot or person, and the rule that decided it: why a click counted as a bot."""
    return UserAgentReading.of(own if user_agent is None else user_agent)
