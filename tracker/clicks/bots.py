"""Is this user agent a person? Two maintained bot lists and a small file of our own, on tokens.

The lists are crawler-user-agents (the community list with a date on every
entry, released every few weeks) and crawlerdetect (the Python port of
CrawlerDetect, with its generic "bot/crawl/spider" rules); `bot_rules.toml`
adds what they miss or catch only by chance: social link-preview fetchers,
AI agents, automation and monitors, each with the page that documents it.

Both lists match substrings, which flags people whose device or app names
hide a bot word: "Cron" inside Chromium's "Cronet", "OrangeBot" inside a
carrier field reading "OrangeBotswana". Here every pattern must match whole
tokens: its match may not start or end inside a word (a change of case, as in
"HeadlessChrome", or from letters to digits ends a word). Upgrading a list is
`pip install -U crawler-user-agents crawlerdetect` and a test run:
tests/clicks/test_bots.py measures recall and false positives on public corpora.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from typing import Any, NamedTuple

from ahocorasick_rs import MATCHKIND_STANDARD, AhoCorasick

# A word may carry an English ending after a rule's stem: crawlerdetect's generic rule is
# the stems "crawl", "bot", "scraper"..., and a "Crawler" or "bots" is still that word.
_ENDINGS = ("", "s", "er", "ers", "ing")


def _word_edge(text: str, i: int) -> bool:
    """Whether a word may begin or end between text[i - 1] and text[i].

    At either end of the text, beside a character that is not a letter or digit,
    where lower case turns upper ("HeadlessChrome"), and between letters and digits.
    """
    if i == 0 or i == len(text):
        return True
    before, after = text[i - 1], text[i]
    return (
        not before.isalnum()
        or not after.isalnum()
        or (after.isupper() and not before.isupper())
        or before.isalpha() != after.isalpha()
    )


def _whole_words(text: str, start: int, end: int) -> bool:
    return _word_edge(text, start) and any(
        text.startswith(ending, end) and _word_edge(text, end + len(ending)) for ending in _ENDINGS
    )


class Verdict(NamedTuple):
    """Bot or not, and the rule that said bot (None for a person)."""

    is_bot: bool
    rule: str | None


HUMAN = Verdict(False, None)
# Every browser sends Accept-Language on a navigation (Chromium, Firefox, Safari and the
# in-app web views built on them); the programs that borrow a browser's user agent often don't.
NO_LANGUAGE = "no Accept-Language header (every browser sends one)"


@dataclass(frozen=True, slots=True)
class Rule:
    """One pattern of one list, and where an operator reads why it is there."""

    pattern: str
    list_name: str
    note: str = ""

    def describe(self, matched: str) -> str:
        note = f", {self.note}" if self.note else ""
        return f"{self.list_name}: {matched!r} matched {self.pattern!r}{note}"


_SPECIAL = frozenset(".^$*+?{}[]|()")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _literal(pattern: str) -> str | None:
    """The text a pattern matches when it is plain text (most are: "Googlebot\\/"), else None."""
    text = []
    escaped = False
    for char in pattern:
        if escaped:
            if char.isalnum():  # \d, \b, \s...: a real regular expression
                return None
            text.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _SPECIAL:
            return None
        else:
            text.append(char)
    return None if escaped or not text else "".join(text)


def _branches(rule: Rule) -> list[Rule]:
    """ "A|B|C" as three rules, so that plain-text branches take the fast path."""
    if any(char in rule.pattern for char in "()[]\\"):
        return [rule]
    return [Rule(branch, rule.list_name, rule.note) for branch in rule.pattern.split("|")]


class _Matcher:
    """One list's rules, whose matches must be whole words.

    Most rules are plain text: one Aho-Corasick automaton finds them all in a
    single pass. The others are one alternation for the regex engine (named
    groups or look-arounds in it made it 100 times slower, measured), and the
    word check is done on each match, the search going on past a match that
    falls inside a word. Which regular expression matched is worked out only
    for a bot.
    """

    def __init__(
        self, name: str, rules: list[Rule], *, ignore_case: bool, remove: str | None = None
    ) -> None:
        self.name = name
        self._ignore_case = ignore_case
        branches = [branch for rule in rules for branch in _branches(rule)]
        literals = [(branch, _literal(branch.pattern)) for branch in branches]
        self._texts = [(rule, text) for rule, text in literals if text is not None]
        self._regexes = [rule for rule, text in literals if text is None]
        needles = [text.translate(_ASCII_LOWER) if ignore_case else text for _, text in self._texts]
        self._automaton = AhoCorasick(needles, matchkind=MATCHKIND_STANDARD)
        self._flags = re.IGNORECASE if ignore_case else 0
        alternation = "|".join(rule.pattern for rule in self._regexes) or "(?!)"  # (?!): none
        self._regex = re.compile(alternation, self._flags)
        # crawlerdetect first strips the words every browser carries ("Mozilla", "Safari"...).
        self._remove = re.compile(remove, re.IGNORECASE) if remove else None

    def find(self, user_agent: str) -> str | None:
        """Which rule names this user agent a bot, or None."""
        text = self._remove.sub("", user_agent) if self._remove is not None else user_agent
        haystack = text.translate(_ASCII_LOWER) if self._ignore_case else text
        found = self._automaton.find_matches_as_indexes(haystack, overlapping=True)
        for index, start, end in found:
            if _whole_words(text, start, end):
                return self._texts[index][0].describe(text[start:end])
        position = 0
        while (match := self._regex.search(text, position)) is not None:
            if match.end() > match.start() and _whole_words(text, match.start(), match.end()):
                return self._rule_at(text, match.start()).describe(match.group())
            position = match.start() + 1
        return None

    def _rule_at(self, text: str, start: int) -> Rule:
        for rule in self._regexes:
            if re.compile(rule.pattern, self._flags).match(text, start) is not None:
                return rule
        return Rule("one of its rules", self.name)  # the alternation matched, so one does


def _version(distribution: str) -> str:
    return f"{distribution} {metadata.version(distribution)}"


@cache
def our_rules() -> dict[str, list[dict[str, str]]]:
    """bot_rules.toml: our bots (`bot`), and the lists' rules we switch off (`off`)."""
    text = resources.files("tracker.clicks").joinpath("bot_rules.toml").read_text("utf-8")
    return tomllib.loads(text)


def _switched_off(distribution: str) -> set[str]:
    return {entry["pattern"] for entry in our_rules()["off"] if entry["list"] == distribution}


def _our_matcher() -> _Matcher:
    rules = [
        Rule(entry["pattern"], f"bot_rules.toml [{entry['category']}]", entry["source"])
        for entry in our_rules()["bot"]
    ]
    return _Matcher("bot_rules.toml", rules, ignore_case=True)


def crawler_user_agents_patterns() -> list[str]:
    text = resources.files("crawleruseragents").joinpath("crawler-user-agents.json").read_text()
    return [entry["pattern"] for entry in json.loads(text)]


def crawlerdetect_patterns() -> list[str]:
    from crawlerdetect.providers import crawlers

    return list(crawlers.data)


def _list_matcher(distribution: str, patterns: list[str], **options: Any) -> _Matcher:
    name = _version(distribution)
    off = _switched_off(distribution)
    rules = [Rule(pattern, name) for pattern in patterns if pattern not in off]
    return _Matcher(name, rules, **options)


@cache
def matchers() -> tuple[_Matcher, ...]:
    """Our rules first (they say what a fetcher is and where that is documented), then the lists."""
    from crawlerdetect.providers import exclusions

    return (
        _our_matcher(),
        # The list is written for case-sensitive matching; its own is_crawler() defaults to it.
        _list_matcher("crawler-user-agents", crawler_user_agents_patterns(), ignore_case=False),
        _list_matcher(
            "crawlerdetect",
            crawlerdetect_patterns(),
            ignore_case=True,
            remove="|".join(exclusions.data),
        ),
    )


def load() -> None:
    """Compile the lists now (a few hundred milliseconds), at start-up rather than on a click."""
    matchers()


# "(Linux; Android 14; <model> Build/<id>; wv)": the model and build name a phone, and
# phones are called "XBot Junior", "HTC Butterfly", "ViewSonic" or built as "AP3A.240617.008".
_ANDROID_DEVICE = re.compile(r"(Android [0-9.]+; ?(?:[a-zA-Z]{2}[-_][a-zA-Z]{2}; ?)?)[^;)]*")
_BUILD = re.compile(r"Build/[^;)]*")


def _without_device_name(user_agent: str) -> str:
    """The user agent without an Android phone's model and build, which are no bot's name."""
    if "Android" not in user_agent:
        return user_agent
    return _BUILD.sub("Build/", _ANDROID_DEVICE.sub(r"\1", user_agent))


def judge(user_agent: str, among: Iterable[_Matcher] | None = None) -> Verdict:
    """The first rule that names this user agent a bot, or HUMAN (`among`: some lists only)."""
    if not user_agent.strip():
        # Every browser sends a User-Agent; a bare request is a script.
        return Verdict(True, "no user agent")
    text = _without_device_name(user_agent)
    for matcher in matchers() if among is None else among:
        rule = matcher.find(text)
        if rule is not None:
            return Verdict(True, rule)
    return HUMAN
