"""GET/HEAD /{slug}: the hot path, a plain ASGI handler that bypasses FastAPI's routing.

It resolves the slug from the in-process cache, appends the click to the
journal and answers once the journal has it; the user agent is parsed later,
by the writer, unless the link counts human clicks (`max_clicks`), whose
clicks are reserved in the database first (allowance.py).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable

from starlette.types import Scope, Send

from tracker import addresses
from tracker.clicks import bots, visitor
from tracker.clicks.journal import ClickJournal
from tracker.clicks.record import ClickRecord
from tracker.clicks.salts import NANOSECONDS_A_DAY, DailySalts
from tracker.config import Settings
from tracker.db.engine import DATABASE_ERRORS
from tracker.links.utm import UTM_FIELDS, Segments, request_segments, segment_value
from tracker.redirect.allowance import ClickAllowances
from tracker.redirect.cache import UNKNOWN, LinkCache, Unknown
from tracker.redirect.link import CachedLink

log = logging.getLogger(__name__)

MAX_FORWARDED_QUERY = 4096
_NO_STORE = (b"cache-control", b"private, no-store")
_NO_BODY = (b"content-length", b"0")
_RETRY = [(b"retry-after", b"5")]

_PAGES = {
    404: ("Link not found", "There is no link at this address."),
    405: ("Method not allowed", "Short links answer GET and HEAD only."),
    410: ("Link gone", "This link has expired or was switched off."),
    414: ("Address too long", "The address carries too many parameters."),
    503: ("Try again shortly", "The service cannot look this link up right now."),
}


# Digits in ASCII order, all URL-safe: a prefix written with them sorts as its number does.
_SORTABLE_DIGITS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_RANDOM_BYTES = 12  # 96 bits, 16 URL-safe characters
_IDS_A_DRAW = 512
# Parsed short-URL queries kept for reuse: a post's link is clicked with the same query again
# and again. Bounded in count and length, so junk queries cost memory only up to a few MB.
_MAX_VARIANTS = 4096
_MAX_VARIANT_QUERY = 512

Variant = tuple[str, str, tuple[tuple[str, str], ...] | None]


class ClickIds:
    """The millisecond (8 sortable characters), then 96 random bits (16 URL-safe ones).

    Ids that grow with time land at the end of the clicks' primary-key index
    instead of on random pages: a batch of clicks touches a few pages, not one
    each (SQLite rewrites every page a transaction touches into its WAL). The
    random part comes from the OS's CSPRNG 512 ids at a time: one system call
    per id cost as much as the rest of the id.
    """

    def __init__(self) -> None:
        self._drawn = ""
        self._next = 0
        self._millisecond = -1
        self._prefix = ""

    def new(self, now_ns: int) -> str:
        millisecond = now_ns // 1_000_000
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            self._prefix = "".join(
                _SORTABLE_DIGITS[(millisecond >> shift) & 63] for shift in range(42, -1, -6)
            )
        start = self._next
        if start >= len(self._drawn):
            # 12 bytes encode to exactly 16 characters, so the draw splits without padding.
            random_bytes = os.urandom(_RANDOM_BYTES * _IDS_A_DRAW)
            self._drawn = base64.urlsafe_b64encode(random_bytes).decode("ascii")
            start = 0
        self._next = start + 16
        return self._prefix + self._drawn[start : start + 16]


WriteNow = Callable[[ClickRecord], Awaitable[None]]


class RedirectHandler:
    def __init__(
        self,
        settings: Settings,
        cache: LinkCache,
        allowances: ClickAllowances,
        journal: ClickJournal,
        salts: DailySalts,
        write_now: WriteNow | None = None,
    ) -> None:
        """``write_now``, with `TRACKER_CLICK_WRITE=sync`: the click is written before the
        answer instead of journaled."""
        self._cache = cache
        self._allowances = allowances
        self._journal = journal
        self._salts = salts
        self._write_now = write_now
        self._param = settings.click_id_param
        self._trusted = settings.trusted_proxies
        self._ignored = settings.ignored_networks
        self._country_header = (settings.country_header or "").encode("latin-1")
        self._click_ids = ClickIds()
        self._variants: dict[tuple[int, bytes], tuple[CachedLink, Variant]] = {}

    async def __call__(
        self, scope: Scope, send: Send, slug: str, link: CachedLink | Unknown | None
    ) -> int:
        """Answer one request; returns the status sent, for the metrics and the access log.

        ``link`` is what the cache held for the slug (`LinkCache.peek`); only an
        UNKNOWN slug waits for the database.
        """
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            return await _page(send, scope, 405, extra=[(b"allow", b"GET, HEAD")])
        raw_query: bytes = scope["query_string"]
        if len(raw_query) > MAX_FORWARDED_QUERY:
            return await _page(send, scope, 414)
        if link is UNKNOWN:
            try:
                link = await self._cache.get(slug)
            except DATABASE_ERRORS as exc:
                log.error("link lookup failed for an unknown slug: %s", exc)
                return await _page(send, scope, 503, extra=_RETRY)
        if link is None:
            return await _page(send, scope, 404)
        now_ns = time.time_ns()
        if not link.is_live(now_ns) or (
            link.max_clicks is not None and self._allowances.used_up(link)
        ):
            return await _page(send, scope, 410)

        if method == "HEAD":
            location = link.location(self._forwarded(raw_query))
        else:
            prefix, suffix, query = self._variant(link, raw_query)
            click_id = self._click_ids.new(now_ns)
            location = prefix + click_id + suffix
            record = self._click_record(scope, link, click_id, now_ns, query)
            if record is not None and record.is_bot is False:  # a person's, on a limited link
                allowed = await self._allowances.take(link)
                if allowed is None:  # none held here, and the database cannot be asked
                    return await _page(send, scope, 503, extra=_RETRY)
                if not allowed:
                    return await _page(send, scope, 410)
            if record is not None and self._write_now is not None:
                await self._write_now(record)
            elif record is not None:
                await self._journal.append_and_wait(record)
        await send(
            {
                "type": "http.response.start",
                "status": link.redirect_status,
                "headers": [(b"location", location.encode("ascii")), _NO_STORE, _NO_BODY],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return link.redirect_status

    def _forwarded(self, raw_query: bytes) -> Segments:
        # A click id on the short URL itself is someone else's (or forged): ours replaces it.
        return request_segments(raw_query, self._param) if raw_query else ()

    def _variant(self, link: CachedLink, raw_query: bytes) -> Variant:
        """The Location around the click id, and the UTM parameters the short URL carried."""
        if not raw_query:
            return link.click_prefix, link.suffix, None
        key = (link.id, raw_query)
        known = self._variants.get(key)
        if known is not None and known[0] is link:  # the same version of the link
            return known[1]
        forwarded = self._forwarded(raw_query)
        query = tuple((k, segment_value(segment)) for k, segment in forwarded if k in UTM_FIELDS)
        variant = (link.click_location(forwarded, self._param), link.suffix, query or None)
        if len(raw_query) <= _MAX_VARIANT_QUERY:
            if len(self._variants) >= _MAX_VARIANTS:
                self._variants.clear()
            self._variants[key] = (link, variant)
        return variant

    def _click_record(
        self,
        scope: Scope,
        link: CachedLink,
        click_id: str,
        now_ns: int,
        query: tuple[tuple[str, str], ...] | None,
    ) -> ClickRecord | None:
        """The click to journal; None from an ignored network."""
        headers = _headers(scope, self._country_header)
        peer = scope.get("client")
        address = addresses.client_address(
            peer[0] if peer else None, headers.get(b"x-forwarded-for"), self._trusted
        )
        if self._ignored and addresses.in_networks(address, self._ignored):
            return None
        user_agent = headers.get(b"user-agent", "")
        signal = None if b"accept-language" in headers else bots.NO_LANGUAGE
        is_bot = None  # judged by the writer, unless the link counts its people now
        if link.max_clicks is not None:
            is_bot = visitor.is_program(visitor.read_user_agent(user_agent), signal)
        salt = self._salts.for_unix_day(now_ns // NANOSECONDS_A_DAY)
        return ClickRecord(
            click_id,
            link.id,
            now_ns // 1000,
            user_agent,
            headers.get(b"referer"),
            visitor.visitor_hash(salt, address, user_agent),
            visitor.country(headers.get(b"country")),
            query,
            is_bot,
            signal,
        )


def _headers(scope: Scope, country_header: bytes) -> dict[bytes, str]:
    """The few request headers a click needs, decoded; the country one under b"country"."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in (b"user-agent", b"referer", b"x-forwarded-for", b"accept"):
            found[name] = value.decode("latin-1")
        elif name == b"accept-language":
            found[name] = ""  # only its presence counts (bots.NO_LANGUAGE): nothing to decode
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
