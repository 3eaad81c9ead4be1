"""API keys: minted by the CLI, stored only as a SHA-256, checked on every `/api` request.

Keys carry 240 random bits, so a fast hash is enough: nobody brute-forces that
space, and a constant-cost lookup by hash keeps the API quick. Still, a client
that keeps sending wrong keys is slowed down (429 with Retry-After after a
burst), so guessing costs it time and the logs stay readable; a valid key is
never slowed. A key's scope says what it may do: `admin` everything, `read`
reports and links but nothing that changes them (a shop's agency, say).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import addresses
from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db.session import SessionDep, writing
from tracker.errors import Forbidden, NotFound, Problem, TooManyAttempts, Unauthorized
from tracker.models import ApiKey

KEY_PREFIX = "trk_"
Scope = Literal["admin", "read"]
SCOPES: tuple[Scope, ...] = ("admin", "read")
# A key's last use is written at most this often: `tracker keys list` shows it to the
# minute, and a write on every request is a write lock per read on SQLite.
LAST_USE_EVERY = timedelta(minutes=1)


class WrongKeyLimiter:
    """Per client address (behind TRACKER_TRUSTED_PROXIES, the one they name), a burst of wrong
    keys, then one every `refill` seconds.

    A token bucket in this process's memory: several processes each allow
    their own burst, which still slows a guesser by orders of magnitude.
    """

    def __init__(
        self, burst: int = 10, refill: float = 6.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.refill, self.clock = burst, refill, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def wrong_key(self, address: str) -> float:
        """Count a wrong key; 0 while within the burst, else the seconds to wait."""
        now = self.clock()
        tokens, at = self._buckets.get(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.refill)
        if len(self._buckets) > 100_000:  # an address scan must not grow memory without end
            self._buckets.clear()
        if tokens >= 1:
            self._buckets[address] = (tokens - 1, now)
            return 0.0
        self._buckets[address] = (tokens, now)
        return (1 - tokens) * self.refill


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


async def create_key(
    session: AsyncSession, name: str, scope: Scope = "admin"
) -> tuple[ApiKey, str]:
    """Mint a key; the raw key is returned once and never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(30)
    key = ApiKey(name=name, prefix=raw_key[:12], key_hash=hash_key(raw_key), scope=scope)
    session.add(key)
    await session.flush()
    return key, raw_key


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.id))).all())


async def revoke_key(session: AsyncSession, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def find_live_key(session: AsyncSession, raw_key: str) -> ApiKey | None:
    """The unrevoked key whose hash ``raw_key`` has, or None."""
    return await session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(raw_key), ApiKey.revoked_at.is_(None))
    )


_bearer = HTTPBearer(auto_error=False)


async def require_api_key(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """Answer 401 unless the request carries a live key (429 after a burst of wrong ones)."""
    if credentials is None:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    key = await find_live_key(session, credentials.credentials)
    if key is None:
        limiter: WrongKeyLimiter = request.app.state.wrong_keys
        settings: Settings = request.app.state.settings
        client = addresses.client_address(
            request.client.host if request.client else None,
            request.headers.get("x-forwarded-for"),
            settings.trusted_proxies,
        )
        wait = limiter.wrong_key(client)
        if wait:
            raise TooManyAttempts("too many wrong API keys; wait", math.ceil(wait))
        raise Unauthorized("invalid or revoked API key")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USE_EVERY:
        async with writing(request, session) as writer:
            await writer.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    return key


async def require_admin_key(key: Annotated[ApiKey, Depends(require_api_key)]) -> ApiKey:
    """A key that may change things: 403 for a read-only one."""
    if key.scope != "admin":
        raise Forbidden("this API key may only read (scope read)")
    return key


# What every /api route may answer besides its own statuses, for the OpenAPI document.
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "model": Problem}
    for status, description in (
        (400, "malformed JSON body"),
        (401, "missing, invalid or revoked API key"),
        (403, "a key of scope read tried to change something"),
        (404, "no such link or record"),
        (422, "a parameter or field is wrong: FastAPI's list of errors, or one sentence"),
        (429, "too many wrong API keys from this address; see Retry-After"),
        (503, "the database is unavailable; see Retry-After"),
    )
}

ApiKeyDep = Annotated[ApiKey, Depends(require_api_key)]
"""Any live key: what reading reports and links needs."""
AdminKeyDep = Annotated[ApiKey, Depends(require_admin_key)]
"""A live key of scope admin: what changing links and spend needs."""
