"""Client addresses: the socket peer, or who a trusted proxy says it is. Never stored.

Both the redirect (for the visitor hash and the ignored networks) and the API
(to slow down wrong keys per client) need the same answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from tracker.config import IPNetwork


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def in_networks(address: str, networks: Sequence[IPNetwork]) -> bool:
    parsed = _parse_ip(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The socket peer, or the X-Forwarded-For entry added by the nearest untrusted hop.

    The header is read right to left: entries appended by trusted proxies are
    skipped, and the first one a trusted proxy received from outside wins.
    Anything the client wrote itself (further left) is never believed.
    """
    address = peer or ""
    if not trusted or not forwarded_for or not in_networks(address, trusted):
        return address
    for entry in reversed(forwarded_for.split(",")):
        candidate = entry.strip()
        if _parse_ip(candidate) is None:
            return address  # a malformed hop: stop believing the chain
        address = candidate
        if not in_networks(candidate, trusted):
            break
    return address
