"""What a stored webhook body keeps: what attribution reads, nothing that names or locates anyone.

A delivery's body is kept so that `tracker reattribute` can derive its orders
again; it needs amounts, currencies, times, statuses, click ids, landing URLs
and a customer reference, never a person. Before a body is stored:

- fields that locate or name someone are removed: IP addresses, postal
  addresses, names, phone numbers, user agents (by key, at any depth);
- e-mail addresses become `sha256:<hex>` of the trimmed, lower-cased address
  wherever they appear, so an e-mail still recognises a returning customer
  (the parsers use it when a shop sends no customer id) but is not kept;
- any other value that holds an IP address has it replaced.

The signature was checked on the raw body before this runs; a body that is
not JSON is not kept at all (it could not be read into orders anyway).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from typing import Any

NOT_KEPT = b'{"tracker": "a body that is not JSON is not kept"}'

# Keys whose values are a person's whereabouts or identity, whatever object holds them.
_DROPPED = frozenset(
    {
        "browser_ip", "client_ip", "customer_ip_address", "ip", "ip_address", "remote_ip",
        "user_agent", "customer_user_agent", "accept_language",
        "first_name", "last_name", "phone", "company",
        "address", "address1", "address2", "address_1", "address_2", "line1", "line2",
        "city", "zip", "postcode", "postal_code", "province", "province_code", "state",
        "latitude", "longitude",
        "billing_address", "shipping_address", "default_address", "addresses",
        "shipping_details", "shipping",
    }
)  # fmt: skip
# Inside these, "name" is a person's (elsewhere it names a product or a note attribute).
_PEOPLE = frozenset(
    {"customer", "customer_details", "billing", "billing_details", "client_details"}
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def email_token(address: str) -> str:
    """What an e-mail becomes: the same for the same address, never the address."""
    return "sha256:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()


def _ip(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)  # a version number, a time: not an address
    return "[ip removed]"


def _text(value: str) -> str:
    value = _EMAIL.sub(lambda match: email_token(match.group(0)), value)
    value = _IPV4.sub(_ip, value)
    return _IPV6.sub(_ip, value) if ":" in value else value


def _clean(value: Any, parent: str = "") -> Any:
    if isinstance(value, dict):
        return {
            key: _clean(item, key.lower())
            for key, item in value.items()
            if key.lower() not in _DROPPED and not (key == "name" and parent in _PEOPLE)
        }
    if isinstance(value, list):
        return [_clean(item, parent) for item in value]
    if isinstance(value, str):
        return _text(value)
    return value


def scrub(body: bytes) -> bytes:
    """The body as it may be stored."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return NOT_KEPT
    return json.dumps(_clean(data), ensure_ascii=False, separators=(",", ":")).encode()
