"""Where a link may lead: public hosts, or only those TRACKER_ALLOWED_DESTINATIONS names.

A short link that leads to 127.0.0.1, a private network or a cloud metadata
address turns the redirector into a way in for whoever holds a key. Judged
from the URL alone (IP literals, `localhost` and its subdomains, names
without a dot): no DNS lookup at mint time, which an attacker's resolver
could answer one way today and another tomorrow.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from tracker.config import Settings
from tracker.errors import Unprocessable


def _internal(host: str) -> bool:
    """A host that is not on the public internet, to judge by its name or address."""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare intranet name
    return not address.is_global or address.is_multicast


@dataclass(frozen=True, slots=True)
class Policy:
    allowed: tuple[str, ...] = ()  # host patterns, e.g. "shop.example.com", "*.example.com"

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(tuple(pattern.lower() for pattern in settings.allowed_destinations))

    def check(self, url: str) -> None:
        """Raise Unprocessable (naming `url`) unless a link may lead to ``url``."""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        named = any(fnmatchcase(host, pattern) for pattern in self.allowed)
        if self.allowed and not named:
            raise Unprocessable(f"url: {host} is not among TRACKER_ALLOWED_DESTINATIONS")
        if _internal(host) and not named:
            raise Unprocessable(
                f"url: {host} is a private, loopback or link-local address; "
                "name it in TRACKER_ALLOWED_DESTINATIONS to allow it"
            )
