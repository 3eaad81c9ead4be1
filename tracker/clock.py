"""Time as Tracker keeps it: timezone-aware UTC, and Unix microseconds on the hot path.

Every "now" in the package comes from `utcnow()` or `time.time_ns()`, both of
which tests move with time-machine: no test depends on when it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def unix_micros(moment: datetime) -> int:
    """Microseconds since 1970 UTC: how the redirect's clock and the click journal carry time."""
    return (moment - UNIX_EPOCH) // _MICROSECOND


def from_unix_micros(micros: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=micros)


def as_utc(value: datetime) -> datetime:
    """A time from outside (a payload, a CLI option) in UTC; a naive one is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a ValueError naming it if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
