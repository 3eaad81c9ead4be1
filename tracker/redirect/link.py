"""A link as the redirect holds it: its destination taken apart, ready to have a click id added."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from tracker.clock import unix_micros
from tracker.links.utm import UTM_FIELDS, Segments, destination, override_segments, split_query
from tracker.models import Link


@dataclass(slots=True)
class CachedLink:
    id: int
    redirect_status: int
    base: str  # the destination without query and fragment
    segments: Segments  # the destination's query, without the click id parameter
    click_prefix: str  # base, query and "<param>=": a click id completes it
    suffix: str  # "#fragment" or ""
    gone: bool  # disabled or deleted
    expires_ns: int | None  # Unix time in nanoseconds, as time.time_ns() gives it
    max_clicks: int | None  # held by the database's reservations: allowance.py

    def is_live(self, now_ns: int) -> bool:
        return not self.gone and (self.expires_ns is None or now_ns < self.expires_ns)

    def click_location(self, forwarded: Segments, click_param: str) -> str:
        """The Location up to its click id: the click id, then `suffix`, complete it.

        The short URL's own parameters are merged in and win. The click id and its
        parameter name are URL-safe by construction.
        """
        if not forwarded:
            return self.click_prefix
        parts = override_segments(self.segments, forwarded)
        parts.append(f"{click_param}=")
        return f"{self.base}?{'&'.join(parts)}"

    def location(self, forwarded: Segments) -> str:
        """The Location without a click id (a HEAD request logs no click)."""
        query = "&".join(override_segments(self.segments, forwarded))
        return f"{self.base}?{query}{self.suffix}" if query else f"{self.base}{self.suffix}"

    @classmethod
    def of(cls, link: Link, click_id_param: str) -> CachedLink:
        target = urlsplit(destination(link.url, {f: getattr(link, f) for f in UTM_FIELDS}))
        # Drop a click id parameter the shop URL may carry; ours is appended per click.
        segments = tuple(s for s in split_query(target.query) if s[0] != click_id_param)
        base = urlunsplit(target._replace(query="", fragment=""))
        query = "&".join(segment for _, segment in segments)
        return cls(
            id=link.id,
            redirect_status=link.redirect_status,
            base=base,
            segments=segments,
            click_prefix=f"{base}?{query + '&' if query else ''}{click_id_param}=",
            suffix=f"#{target.fragment}" if target.fragment else "",
            gone=link.disabled or link.deleted_at is not None,
            expires_ns=None if link.expires_at is None else unix_micros(link.expires_at) * 1000,
            max_clicks=link.max_clicks,
        )
