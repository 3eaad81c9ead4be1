"""Signing in to the dashboard with an API key: a signed cookie, CSRF tokens, an idle expiry.

The cookie holds the key's id and the session's CSRF token, signed with a
secret that every host shares (stored in the database on first use) and
re-issued on every page, so a session ends after `IDLE` without a visit. Each
request looks the key up again: a revoked key ends its sessions at once. A
visitor who has not signed in gets a cookie without a key, so that the
sign-in form has a CSRF token too.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.db.upsert import insert_ignoring_duplicates
from tracker.models import ApiKey, AppSecret

COOKIE = "tracker_session"
IDLE = timedelta(hours=8)
_SECRET_NAME = "dashboard-session"
_SALT = "tracker.dashboard.session"


@dataclass(frozen=True, slots=True)
class Visit:
    """Who is at the dashboard: a key's id once signed in, and the CSRF token of the visit."""

    key_id: int | None
    csrf: str


class SignInRequired(Exception):
    """The page needs a signed-in visitor; the router answers with the sign-in page."""


class CsrfRejected(Exception):
    """A form came without this visit's token: from another site, or an old tab."""


async def serializer(session: AsyncSession) -> URLSafeTimedSerializer:
    """The deployment's signer; the first process to need the secret makes it."""
    await session.execute(
        insert_ignoring_duplicates(AppSecret, session).values(
            name=_SECRET_NAME, value=secrets.token_bytes(32)
        )
    )
    secret = await session.scalar(select(AppSecret.value).where(AppSecret.name == _SECRET_NAME))
    assert secret is not None
    return URLSafeTimedSerializer(bytes(secret), salt=_SALT)


def new_visit(key_id: int | None = None) -> Visit:
    return Visit(key_id, secrets.token_urlsafe(24))


def read_cookie(signer: URLSafeTimedSerializer, value: str | None) -> Visit | None:
    """The visit a cookie carries, if it is ours and was used within IDLE."""
    if not value:
        return None
    try:
        data = signer.loads(value, max_age=int(IDLE.total_seconds()))
    except BadSignature:  # includes an expired signature
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    key_id = data.get("k")
    return Visit(key_id if isinstance(key_id, int) else None, data["c"])


def cookie_value(signer: URLSafeTimedSerializer, visit: Visit) -> str:
    return signer.dumps({"k": visit.key_id, "c": visit.csrf})


async def live_key(session: AsyncSession, key_id: int) -> ApiKey | None:
    key = await session.get(ApiKey, key_id)
    return key if key is not None and key.revoked_at is None else None


def check_csrf(visit: Visit, given: str | None) -> None:
    if not given or not hmac.compare_digest(visit.csrf.encode(), given.encode()):
        raise CsrfRejected
