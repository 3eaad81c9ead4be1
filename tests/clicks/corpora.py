"""Public user-agent corpora that nobody here wrote, and what the bot rules make of them.

- crawler-user-agents (the installed release): every entry's example strings,
  with the date the entry was added. It is also one of the two lists in use, so
  its recall is shown twice: with all lists, and held out (without it), which
  says how our rules and crawlerdetect do on crawlers they were not built from.
- Matomo device-detector's test fixtures (the `device-detector` package):
  1,300-odd bots, and some 20,000 strings of browsers and apps by device type.
- intoli's user-agents (npm): 10,000 browser strings seen on real traffic,
  each with the share of traffic it had.

tests/clicks/test_bots.py holds the targets; bench/bots.py prints the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import yaml_rs

USER_AGENTS_JSON = (
    Path(__file__).parent.parent / "node_modules" / "user-agents" / "dist" / "user-agents.json"
)
# Social apps' in-app browsers: a person reading a post, never a bot (SPEC §5).
IN_APP = re.compile(
    r"FBAN|FBAV|FB_IAB|Instagram|musical_ly|BytedanceWebview|TikTok|LinkedInApp|Twitter for|"
    r"TwitterAndroid|Snapchat/|\[Pinterest/|Pinterest for|Barcelona \d|Threads"
)
# Matomo files whose entries are bots, or apps that are not a person's browser.
_NOT_BROWSER_FILES = {"bots.yml", "feed_reader.yml", "mediaplayer.yml", "podcasting.yml"}
# Matomo calls these browsers; SPEC §5 calls a program driving a browser automation.
AUTOMATION_BROWSERS = {"Headless Chrome", "PhantomJS", "Puppeteer", "Playwright", "Selenium"}


@dataclass
class Corpus:
    name: str
    agents: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)  # share of traffic, where known


def version(distribution: str) -> str:
    return f"{distribution} {metadata.version(distribution)}"


def crawlers_by_period() -> dict[str, Corpus]:
    """crawler-user-agents' examples, split by the year their entry was added."""
    text = resources.files("crawleruseragents").joinpath("crawler-user-agents.json").read_text()
    name = version("crawler-user-agents")
    periods = {
        key: Corpus(f"{name}, entries {key}") for key in ("before 2025", "2025-2026", "undated")
    }
    for entry in json.loads(text):
        added = entry.get("addition_date") or ""
        key = "undated" if not added else "2025-2026" if added[:4] >= "2025" else "before 2025"
        periods[key].agents.extend(entry.get("instances", []))
    return periods


def _matomo_fixtures() -> Iterator[tuple[str, dict[str, object]]]:
    folder = resources.files("device_detector").joinpath("tests/fixtures/upstream")
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".yml"):
            # yaml-rs (device-detector's own YAML reader) reads them in 1.4 s; PyYAML took 21 s.
            for entry in yaml_rs.loads(path.read_text("utf-8")) or []:
                yield path.name, entry


@cache
def matomo() -> tuple[Corpus, Corpus, Corpus]:
    """Matomo's bots; its browsers (automation left out); in-app browsers of social apps."""
    name = version("device-detector")
    bots = Corpus(f"Matomo fixtures ({name}), bots")
    browsers = Corpus(f"Matomo fixtures ({name}), browsers")
    in_app = Corpus(f"Matomo fixtures ({name}), social in-app browsers")
    for file_name, entry in _matomo_fixtures():
        agent = str(entry["user_agent"] or "")
        client = entry.get("client")
        if not agent:  # a fixture of client hints alone: no user agent to judge
            continue
        if file_name == "bots.yml":
            bots.agents.append(agent)
        elif file_name in _NOT_BROWSER_FILES or not isinstance(client, dict):
            continue
        elif IN_APP.search(agent):
            in_app.agents.append(agent)
        elif client.get("type") == "browser" and client.get("name") not in AUTOMATION_BROWSERS:
            browsers.agents.append(agent)
    return bots, browsers, in_app


def intoli() -> tuple[Corpus, Corpus]:
    """intoli's real-traffic browser strings, and those of them that are social in-app browsers."""
    package = json.loads((USER_AGENTS_JSON.parent.parent / "package.json").read_text())
    name = f"user-agents {package['version']} (npm)"
    browsers, in_app = Corpus(f"{name}, browsers"), Corpus(f"{name}, social in-app browsers")
    for entry in json.loads(USER_AGENTS_JSON.read_text()):
        corpus = in_app if IN_APP.search(entry["userAgent"]) else browsers
        corpus.agents.append(entry["userAgent"])
        corpus.weights.append(entry["weight"])
    return browsers, in_app
