"""GET/HEAD /{slug}: the hot path, a plain ASGI handler that bypasses FastAPI's routing.

It resolves the slug from the in-process cache, answers the redirect, and
appends the click to the journal; the user agent is parsed later, by the
writer, unless the link counts human clicks (`max_clicks`).
"""

from __future__ import annotations

import functools
import html
import json
import logging
import secrets
import time
from datetime import datetime

from starlette.types import Receive, Scope, Send

from tracker.clicks import visitor
from tracker.clicks.journal import PendingClick
from tracker.db import utcnow
from tracker.links.utm import UTM_FIELDS, Segments, request_segments, segment_value
from tracker.redirect.cache import LOOKUP_ERRORS, CachedLink
from tracker.runtime import Runtime

log = logging.getLogger(__name__)

MAX_FORWARDED_QUERY = 4096
_NO_STORE = (b"cache-control", b"private, no-store")

_PAGES = {
    404: ("Link not found", "There is no link at this address."),
    405: ("Method not allowed", "Short links answer GET and HEAD only."),
    410: ("Link gone", "This link has expired or was switched off."),
    414: ("Address too long", "The address carries too many parameters."),
    503: ("Try again shortly", "The service cannot look this link up right now."),
}


# Digits in ASCII order, all URL-safe: a prefix written with them sorts as its number does.
_SORTABLE_DIGITS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=1)
def _time_prefix(millisecond: int) -> str:
    return "".join(_SORTABLE_DIGITS[(millisecond >> shift) & 63] for shift in range(42, -1, -6))


def new_click_id() -> str:
    """The millisecond (8 sortable characters), then 96 random bits (16 URL-safe ones).

    Ids that grow with time land at the end of the clicks' primary-key index
    instead of on random pages: a batch of clicks touches a few pages, not one
    each (SQLite rewrites every page a transaction touches into its WAL).
    """
    return _time_prefix(time.time_ns() // 1_000_000) + secrets.token_urlsafe(12)


class RedirectHandler:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        settings = runtime.settings
        self._param = settings.click_id_param
        self._sync = settings.click_write == "sync"
        self._trusted = settings.trusted_proxies
        self._ignored = settings.ignored_networks
        self._country_header = (settings.country_header or "").encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send, slug: str) -> int:
        """Answer one request; returns the status sent, for the metrics and the access log."""
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            return await _page(send, scope, 405, extra=[(b"allow", b"GET, HEAD")])
        raw_query: bytes = scope["query_string"]
        if len(raw_query) > MAX_FORWARDED_QUERY:
            return await _page(send, scope, 414)
        try:
            link = await self._runtime.link_cache.get(slug)
        except LOOKUP_ERRORS as exc:
            log.error("link lookup failed for an unknown slug: %s", exc)
            return await _page(send, scope, 503, extra=[(b"retry-after", b"5")])
        now = utcnow()
        if link is None:
            return await _page(send, scope, 404)
        if not link.is_live(now):
            return await _page(send, scope, 410)

        # A click id on the short URL itself is someone else's (or forged): ours replaces it.
        forwarded = request_segments(raw_query, self._param) if raw_query else ()
        if method == "HEAD":
            location = link.location(forwarded, self._param, None)
        else:
            click_id = new_click_id()
            location = link.location(forwarded, self._param, click_id)
            await self._log_click(scope, link, click_id, now, forwarded)
        await send(
            {
                "type": "http.response.start",
                "status": link.redirect_status,
                "headers": [
                    (b"location", location.encode("ascii")),
                    _NO_STORE,
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return link.redirect_status

    async def _log_click(
        self,
        scope: Scope,
        link: CachedLink,
        click_id: str,
        now: datetime,
        forwarded: Segments,
    ) -> None:
        headers = _headers(scope, self._country_header)
        peer = scope.get("client")
        address = visitor.client_address(
            peer[0] if peer else None, headers.get(b"x-forwarded-for"), self._trusted
        )
        if self._ignored and visitor.in_networks(address, self._ignored):
            return
        user_agent = headers.get(b"user-agent", "")
        query = tuple(
            (key, segment_value(segment)) for key, segment in forwarded if key in UTM_FIELDS
        )
        is_bot = None
        if link.max_clicks is not None:
            is_bot = visitor.read_user_agent(user_agent).is_bot
            if not is_bot:
                link.human_clicks += 1
        click = PendingClick(
            id=click_id,
            link_id=link.id,
            clicked_at=now,
            user_agent=user_agent,
            referrer=headers.get(b"referer"),
            visitor_hash=visitor.visitor_hash(
                self._runtime.salts.for_day(now.date()), address, user_agent
            ),
            country=visitor.country(headers.get(b"country")),
            query=query or None,
            is_bot=is_bot,
        )
        if self._sync:
            await self._runtime.write_click_now(click)
        else:
            self._runtime.journal.append(click)


def _headers(scope: Scope, country_header: bytes) -> dict[bytes, str]:
    """The few request headers a click needs, decoded; the country one under b"country"."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in (b"user-agent", b"referer", b"x-forwarded-for", b"accept"):
            found[name] = value.decode("latin-1")
        elif country_header and name == country_header:
            found[b"country"] = value.decode("latin-1")
    return found


def _wants_json(scope: Scope) -> bool:
    accept = _headers(scope, b"").get(b"accept", "")
    return "application/json" in accept and "text/html" not in accept


async def _page(
    send: Send, scope: Scope, status: int, extra: list[tuple[bytes, bytes]] | None = None
) -> int:
    """A small HTML page for people, JSON for programs that ask for it."""
    title, text = _PAGES[status]
    if _wants_json(scope):
        body = json.dumps({"detail": text}).encode()
        content_type = b"application/json"
    else:
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        _NO_STORE,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
    return status
