"""How well the bot rules tell people from programs, on public corpora, and what a verdict costs.

    python bench/bots.py

Prints recall on crawlers (crawler-user-agents' examples by the year their entry
was added, held out too: without that list, which is one of the two in use),
recall on Matomo's bots, false positives on browsers and on social apps'
in-app browsers, and the time per user agent against crawlerdetect alone (the
rule before this one), measured in the same run. The corpora are what
tests/setup.sh installs (tests/clicks/corpora.py names them and their versions).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawlerdetect import CrawlerDetect

from tests.clicks import corpora
from tracker.clicks import bots


def _share(agents: Sequence[str], judge: Callable[[str], bool]) -> tuple[int, float]:
    hits = sum(1 for agent in agents if judge(agent))
    return hits, hits / len(agents) if agents else 0.0


def _microseconds(agents: Sequence[str], judge: Callable[[str], object]) -> float:
    """Median of five passes, per user agent (no cache: every click of a new agent pays this)."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for agent in agents:
            judge(agent)
        runs.append((time.perf_counter() - start) / len(agents) * 1e6)
    return statistics.median(runs)


def main() -> None:
    bots.load()
    held_out = [m for m in bots.matchers() if not m.name.startswith("crawler-user-agents")]

    def is_bot(agent: str) -> bool:
        return bots.judge(agent).is_bot

    def is_bot_held_out(agent: str) -> bool:
        return bots.judge(agent, held_out).is_bot

    print("recall on crawlers                                         all lists   held out")
    for corpus in corpora.crawlers_by_period().values():
        hits, share = _share(corpus.agents, is_bot)
        _, alone = _share(corpus.agents, is_bot_held_out)
        print(f"  {corpus.name:<55} {share:7.2%} {alone:9.2%}   ({hits} of {len(corpus.agents)})")
    matomo_bots, matomo_browsers, matomo_in_app = corpora.matomo()
    hits, share = _share(matomo_bots.agents, is_bot)
    _, alone = _share(matomo_bots.agents, is_bot_held_out)
    print(
        f"  {matomo_bots.name:<55} {share:7.2%} {alone:9.2%}   ({hits} of {len(matomo_bots.agents)})"
    )

    print("false positives (people flagged as bots)")
    intoli_browsers, intoli_in_app = corpora.intoli()
    for corpus in (matomo_browsers, intoli_browsers, matomo_in_app, intoli_in_app):
        flagged = [agent for agent in corpus.agents if is_bot(agent)]
        line = f"  {corpus.name:<55} {len(flagged) / len(corpus.agents):8.3%}"
        line += f"   ({len(flagged)} of {len(corpus.agents)})"
        if corpus.weights:
            weight = sum(w for a, w in zip(corpus.agents, corpus.weights, strict=True) if is_bot(a))
            line += f", {weight / sum(corpus.weights):.3%} of their traffic"
        print(line)

    sample = intoli_browsers.agents[:2000] + matomo_bots.agents[:500]
    # Its uncached check: is_crawler() keeps the last 1,024 answers, and every agent here is new.
    before = _microseconds(sample, CrawlerDetect()._check_crawler)
    now = _microseconds(sample, bots.judge)
    print(f"time per new user agent ({len(sample)} of them, browsers and bots)")
    print(f"  crawlerdetect alone (baseline)   {before:8.1f} µs")
    print(f"  tracker bots.judge               {now:8.1f} µs   ({now / before:.2f}× the baseline)")


if __name__ == "__main__":
    main()
