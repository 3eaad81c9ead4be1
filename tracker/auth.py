"""API keys: minted by the CLI, stored only as a SHA-256, checked on every `/api` request.

Keys carry 240 random bits, so a fast hash is enough: nobody brute-forces that
space, and a constant-cost lookup by hash keeps the API quick.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.clock import utcnow
from tracker.db.session import SessionDep
from tracker.errors import NotFound, Unauthorized
from tracker.models import ApiKey

KEY_PREFIX = "trk_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


async def create_key(session: AsyncSession, name: str) -> tuple[ApiKey, str]:
    """Mint a key; the raw key is returned once and never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(30)
    key = ApiKey(name=name, prefix=raw_key[:12], key_hash=hash_key(raw_key))
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
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """Answer 401 unless the request carries a live key."""
    if credentials is None:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    key = await find_live_key(session, credentials.credentials)
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=utcnow()))
    return key


ApiKeyDep = Annotated[ApiKey, Depends(require_api_key)]
