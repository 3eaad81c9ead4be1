"""Who clicked, as far as a privacy-respecting service may know.

Pure functions: the salted visitor hash (the address itself is never kept;
addresses.py finds it behind trusted proxies), and the user-agent reading
(device, browser, OS, bot) that the click writer does off the request path.
"""

from __future__ import annotations

import gc
import hashlib
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import urlsplit

from ua_parser import Domain, Parser
from ua_parser.loaders import load_lazy_builtins
from ua_parser.re2 import Resolver

from tracker.clicks import bots

MAX_USER_AGENT = 512
MAX_REFERRER = 1024

_TABLET_HINTS = ("ipad", "tablet", "kindle", "silk/", "playbook", "nexus 7", "nexus 10")


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    is_bot: bool
    device_type: str  # desktop, mobile, tablet, bot, other
    browser: str | None
    os: str | None
    rule: str | None = None  # what made it a bot: `tracker ua` shows it


def is_program(info: UserAgentInfo, bot_signal: str | None) -> bool:
    """A click's bot flag, judged alike at the redirect, by the writer and by `tracker bots
    reclassify`: its user agent says so, or its request's headers do (bots.NO_LANGUAGE)."""
    return info.is_bot or bot_signal is not None


def _family(value: str | None) -> str | None:
    return None if value in (None, "Other") else value


_READ = Domain.USER_AGENT | Domain.OS


@cache
def _parser() -> Parser:
    """ua-parser's patterns for the browser and the OS only, matched by RE2.

    Its device patterns name models (a phone's brand and make), which no report
    shows: the device's kind is told from the user agent below. Without them the
    compiled patterns took 11 MB instead of 26 with ua-parser's Rust resolver. RE2
    (ua-parser's other compiled resolver, `google-re2`) holds them in 3 MB, for the
    click writer's whole life, and reads a user agent not seen before in 56 µs instead
    of 29 (5,000 of intoli's, on a slow day); `read_user_agent`'s cache means most
    clicks never ask. Of 37,161 public user agents (tests/clicks/corpora.py) both give
    the same browser and OS but for one crawler's, which the bot rules flag anyway.
    """
    browsers, systems, _models = load_lazy_builtins()
    return Parser(Resolver((browsers, systems, [])))


@cache
def load_parsers() -> None:
    """Build the user-agent and crawler matchers, once, and take them out of the garbage
    collector's sight.

    They are large (some 7 MB of compiled patterns: 3 for ua-parser's, 4.5 for
    the crawler lists). The click writer builds them at start-up, not on the
    first click. `tracker serve` with the writer in a process of its own needs
    them only to count a limited link's people and to explain a user agent, so
    it builds them on the first such request and keeps 7 MB less until then.
    Either way they are frozen out of the collector once built: full collections
    walked them for 75-100 ms when the first click built them unfrozen.
    """
    _parser()("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36", _READ)
    bots.load()
    gc.freeze()


# Each distinct reading once: thousands of user agents read alike (one browser on one OS), and
# the cache below held a copy of the reading, and of its names, for each (20,000 distinct user
# agents: 13.6 -> 11 MB). Bounded by the patterns' families and the bot rules.
_READINGS: dict[UserAgentInfo, UserAgentInfo] = {}


@lru_cache(maxsize=20_000)
def read_user_agent(user_agent: str) -> UserAgentInfo:
    """Device, browser, OS and the bot flag; cached because a viral post repeats a few UAs."""
    load_parsers()
    verdict = bots.judge(user_agent)
    if not user_agent.strip():
        return UserAgentInfo(True, "bot", None, None, verdict.rule)
    parsed = _parser()(user_agent, _READ)
    browser = _family(parsed.user_agent.family if parsed.user_agent else None)
    os_name = _family(parsed.os.family if parsed.os else None)
    lowered = user_agent.lower()
    if verdict.is_bot:
        device = "bot"
    elif any(hint in lowered for hint in _TABLET_HINTS) or (
        "android" in lowered and "mobile" not in lowered
    ):
        device = "tablet"
    elif "mobi" in lowered or os_name in ("iOS", "Android"):
        device = "mobile"
    elif os_name is not None:
        device = "desktop"
    else:
        device = "other"
    info = UserAgentInfo(verdict.is_bot, device, browser, os_name, verdict.rule)
    return _READINGS.setdefault(info, info)


@lru_cache(maxsize=4096)
def referrer_host(referrer: str | None) -> str | None:
    if not referrer:
        return None
    try:
        host = urlsplit(referrer).hostname
    except ValueError:
        return None
    return host[:255] if host else None


def visitor_hash(salt: bytes, address: str, user_agent: str) -> str:
    """Same visitor, same day: same hash. Tomorrow's salt makes it a stranger again."""
    message = b"%s\x00%s" % (address.encode(), user_agent.encode("utf-8", "surrogateescape"))
    return hashlib.blake2b(message, digest_size=16, key=salt).hexdigest()


def country(value: str | None) -> str | None:
    """A two-letter code from the trusted proxy header, upper case; anything else is no country."""
    if value and len(value) == 2 and value.isascii() and value.isalpha():
        return value.upper()
    return None
