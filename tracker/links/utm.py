"""Destination URLs: validation, normalisation and the UTM merge.

Pure functions on strings. A destination that passes `normalize_url` is plain
ASCII with no whitespace or control character, so it is always safe to put in
a ``Location`` header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import (
    SplitResult,
    parse_qsl,
    quote,
    unquote_plus,
    urlencode,
    urlsplit,
    urlunsplit,
)

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_URL_LENGTH = 2048

# Characters that stay as they are; everything else (unicode, spaces in values) is %-encoded.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"
# A query of these bytes can go into a Location header as it is.
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9/:@!$&'()*+,;=\-._~%?]*")


class InvalidURL(ValueError):
    pass


def _has_control_or_space(value: str) -> bool:
    return any(ch <= " " or ch == "\x7f" or ch in "\u2028\u2029\x85\xa0" for ch in value)


def _idna_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURL("the host is not a valid domain name") from exc


def normalize_url(url: str) -> str:
    """Check that ``url`` is an absolute http(s) URL and return it in plain ASCII."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"must be at most {MAX_URL_LENGTH} characters")
    if _has_control_or_space(url):
        raise InvalidURL("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidURL("must be an absolute http:// or https:// URL")
    if not parts.hostname:
        raise InvalidURL("must have a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidURL("must not carry a user name or password")
    host = _idna_host(parts.hostname)
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    normalized = urlunsplit(
        SplitResult(
            parts.scheme.lower(),
            netloc,
            quote(parts.path, safe=_SAFE_PATH),
            quote(parts.query, safe=_SAFE_QUERY),
            quote(parts.fragment, safe=_SAFE_QUERY),
        )
    )
    if len(normalized) > MAX_URL_LENGTH:
        raise InvalidURL(f"must be at most {MAX_URL_LENGTH} characters once encoded")
    return normalized


Segments = tuple[tuple[str, str], ...]


def split_query(query: str) -> Segments:
    """A raw query as (decoded key, raw segment) pairs, parsed once and reused."""
    return tuple(
        (unquote_plus(segment.split("=", 1)[0]), segment) for segment in query.split("&") if segment
    )


def request_segments(raw: bytes, drop: str) -> Segments:
    """A request's query as segments, without the parameter ``drop``.

    Plain ASCII (what browsers send) is kept byte for byte, as the destination's
    own query is; anything else is decoded and encoded again, so that only
    URL-safe ASCII ever reaches a Location header.
    """
    if _PLAIN_QUERY.fullmatch(raw):
        segments = split_query(raw.decode("ascii"))
    else:
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        segments = encode_segments(pairs)
    return tuple(segment for segment in segments if segment[0] != drop)


def encode_segments(params: Iterable[tuple[str, str]]) -> Segments:
    """Decoded pairs as segments of URL-safe ASCII."""
    return tuple((key, urlencode([(key, value)], quote_via=quote)) for key, value in params)


def override_segments(segments: Segments, overrides: Segments) -> list[str]:
    """The raw segments whose keys ``overrides`` does not set, then those of ``overrides``."""
    replaced = {key for key, _ in overrides}
    return [segment for key, segment in segments if key not in replaced] + [
        segment for _, segment in overrides
    ]


def segment_value(segment: str) -> str:
    return unquote_plus(segment.partition("=")[2])


def merge_segments(segments: Segments, params: Iterable[tuple[str, str]]) -> str:
    """Set ``params`` in a split query; the other parameters keep their exact bytes."""
    return "&".join(override_segments(segments, encode_segments(params)))


def merge_query(query: str, params: Iterable[tuple[str, str]]) -> str:
    """Set ``params`` in a raw query string; the other parameters keep their exact bytes."""
    return merge_segments(split_query(query), params)


def merge_params(url: str, params: Iterable[tuple[str, str]]) -> str:
    """Return ``url`` with ``params`` set in its query, other parameters and the fragment kept."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=merge_query(parts.query, params)))


def utm_params(fields: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """The UTM fields that are set, in their canonical order."""
    return [(name, value) for name in UTM_FIELDS if (value := fields.get(name))]


def destination(url: str, fields: Mapping[str, str | None]) -> str:
    """The link's URL with its UTM fields merged in; the fields win over those already there."""
    return merge_params(url, utm_params(fields))


def read_utm(url: str) -> dict[str, str]:
    """The UTM parameters present in a URL (last value wins, as in most analytics tools)."""
    found: dict[str, str] = {}
    for segment in urlsplit(url).query.split("&"):
        key, _, value = segment.partition("=")
        name = unquote_plus(key)
        if name in UTM_FIELDS:
            found[name] = unquote_plus(value)
    return found
