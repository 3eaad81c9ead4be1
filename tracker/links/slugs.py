"""Slug rules: the alphabet, the reserved words and random generation."""

from __future__ import annotations

import re
import secrets
import string

SLUG_PATTERN = r"[A-Za-z0-9_-]{1,64}"
SLUG_RE = re.compile(SLUG_PATTERN)
GENERATED_LENGTH = 7
_BASE62 = string.digits + string.ascii_letters

# Paths the service answers itself; compared case-insensitively so that
# `/API` cannot pass for the API in a post.
RESERVED = frozenset(
    {
        "api",
        "webhooks",
        "dashboard",
        "static",
        "docs",
        "redoc",
        "openapi",
        "healthz",
        "readyz",
        "metrics",
        "robots",
        "favicon",
        "admin",
        "login",
        "logout",
        "assets",
    }
)


def is_reserved(slug: str) -> bool:
    return slug.lower() in RESERVED


def is_valid(slug: str) -> bool:
    """True for a slug a link may have (well-formed and not reserved)."""
    return SLUG_RE.fullmatch(slug) is not None and not is_reserved(slug)


def generate() -> str:
    """7 base62 characters from the OS's CSPRNG: ~3.5e12 possibilities."""
    return "".join(secrets.choice(_BASE62) for _ in range(GENERATED_LENGTH))
