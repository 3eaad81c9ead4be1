"""Bot verdicts: the fetchers SPEC §5 names, people's browsers, and public corpora's figures.

The corpus tests are the gate for upgrading a list (`pip install -U
crawler-user-agents crawlerdetect`, then this file): recall on crawlers the
lists added in 2025-2026, false positives on real browsers, none at all on
social apps' in-app browsers. bench/bots.py prints the whole table.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from tests.clicks import corpora
from tracker.clicks import bots, visitor

# SPEC §5 and the bots issue: link-preview fetchers of social networks and messengers, as
# each documents or sends its user agent.
PREVIEW_FETCHERS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Meta-ExternalHit/1.1; +http://www.facebook.com/externalhit_uatext.php)",
    "meta-externalagent/1.1",
    "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0 A",
    "WhatsApp/2.2412.54 i",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
    "Bluesky Cardyb/1.1",
    "http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/)",
    "Mastodon/4.3.0 (http.rb/5.2.0; +https://fosstodon.org/)",
    "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots)",
    "Mozilla/5.0 (compatible; SnapURLPreview/1.0; +https://www.snapchat.com)",
    "Viber/21.4.0.1",
    "Tumblr/14.0.835.186",
    "Lemmy/0.19.3; +https://lemmy.ml",
    "Mozilla/5.0 (compatible; NotionEmbedder)",
    "Valve/Steam HTTP Client 1.0 (SteamChatURLLookup)",
    "ClickUpLinkUnfurler/1.0 (+https://clickup.com)",
    "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
    "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
]
AGENTS_AND_MONITORS = [
    "anthropic-ai",
    "cohere-ai",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
    "+https://perplexity.ai/perplexity-user)",
    "Mozilla/5.0 (compatible; Google-NotebookLM; +https://notebooklm.google.com/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36 Playwright/1.49.0",
    "selenium/4.21.0 (python linux)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0 "
    "Safari/537.36 NewRelicSynthetics/1.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/134.0 Safari/537.36 (Checkly, "
    "https://www.checklyhq.com)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 Chrome/97.0 "
    "Safari/537.36 ThousandEyes-Dragonfly-x1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/138.0 Safari/537.36 "
    "DatadogSynthetics",
    "Mozilla/5.0 (compatible; Qualys; +https://www.qualys.com/)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
    "",
]
# People: browsers, and social apps' in-app browsers (never a bot, SPEC §5), including
# the two that substring rules took for bots.
PEOPLE = [
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    # Chromium's network stack in an app's requests: "Cron" is no bot here.
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0 Mobile Safari/537.36 Cronet/119.0.6045.31",
    "com.zhiliaoapp.musically/2023205030 (Linux; U; Android 13; en_US; Pixel 7; Build/TQ3A; "
    "Cronet/TTNetVersion:5f8d8f6b 2023-05-12 QuicVersion:0144d358 2023-03-24)",
    # A carrier field that reads "OrangeBotswana": "OrangeBot" is no bot here.
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/442.0.0.53.105;FBBV/540224614;FBDV/iPhone14,5;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.1;FBSS/3;FBCR/OrangeBotswana;FBID/phone;FBLC/en_US;FBOP/5]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 312.0.0.34.111 (iPhone14,5; iOS 17_1; en_US; en; "
    "scale=3.00; 1170x2532; 548339486)",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/119.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/442.0.0.33.110;]",
    "Mozilla/5.0 (Linux; Android 12; SM-A525F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 trill_320103 "
    "BytedanceWebview/d8a21c6",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_32.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [LinkedInApp]/9.29.2",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Twitter for iPhone/10.20",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Snapchat/12.60.0.46 (like Safari/8616.2.9.10.11, panda)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [Pinterest/iOS]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Barcelona 289.0.0.77.109 (iPhone15,3; iOS 17_0; en_US; en-US)",
    # Phones whose model names hold a bot word, and one built as a listed "crawler".
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.101 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 15; RMX5116 Build/AP3A.240617.008; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/141.0.7390.97 Mobile Safari/537.36",
]


@pytest.mark.parametrize("user_agent", PREVIEW_FETCHERS + AGENTS_AND_MONITORS)
def test_fetchers_agents_and_monitors_are_bots(user_agent: str) -> None:
    verdict = bots.judge(user_agent)
    assert verdict.is_bot, user_agent
    assert verdict.rule


@pytest.mark.parametrize("user_agent", PEOPLE)
def test_people_are_people(user_agent: str) -> None:
    assert bots.judge(user_agent) == bots.HUMAN


def test_a_verdict_names_the_rule_and_where_it_is_documented() -> None:
    rule = bots.judge("Mozilla/5.0 (compatible; Bluesky Cardyb/1.1)").rule
    assert rule is not None
    assert "bot_rules.toml [social preview]" in rule
    assert "'Bluesky Cardyb'" in rule
    assert "https://docs.bsky.app/" in rule
    listed = bots.judge("Mozilla/5.0 (compatible; Googlebot/2.1)").rule
    assert listed is not None and listed.startswith("crawler-user-agents ")
    assert visitor.read_user_agent("curl/8.5.0").rule == bots.judge("curl/8.5.0").rule


def test_every_rule_of_ours_compiles_and_cites_a_page() -> None:
    for entry in bots.our_rules()["bot"]:
        re.compile(entry["pattern"])
        assert entry["source"].startswith("https://"), entry
        assert entry["category"] in {
            "social preview", "AI agent", "automation", "HTTP library", "monitor",
            "contact address",
        }  # fmt: skip


def test_every_rule_switched_off_is_still_in_its_list() -> None:
    """A list that drops or rewrites the rule makes its entry in bot_rules.toml stale."""
    patterns = {
        "crawler-user-agents": bots.crawler_user_agents_patterns(),
        "crawlerdetect": bots.crawlerdetect_patterns(),
    }
    for entry in bots.our_rules()["off"]:
        assert entry["pattern"] in patterns[entry["list"]], entry
        assert entry["reason"]


def test_in_app_browser_pattern_spots_the_apps() -> None:
    """The corpora's in-app split must see every app in PEOPLE that is one."""
    in_app = [agent for agent in PEOPLE if corpora.IN_APP.search(agent)]
    assert len(in_app) == 10


@cache
def _bots_in(agents: tuple[str, ...]) -> list[str]:
    return [agent for agent in agents if bots.judge(agent).is_bot]


def _recall(corpus: corpora.Corpus) -> float:
    return len(_bots_in(tuple(corpus.agents))) / len(corpus.agents)


def test_recall_on_crawlers_the_lists_added_in_2025_and_2026() -> None:
    periods = corpora.crawlers_by_period()
    assert len(periods["2025-2026"].agents) > 900
    assert _recall(periods["2025-2026"]) >= 0.97
    assert _recall(periods["before 2025"]) >= 0.97


def test_recall_on_matomo_bots_does_not_fall() -> None:
    """An independent corpus; it counts podcast apps and test strings as bots (87 % today)."""
    matomo_bots, _, _ = corpora.matomo()
    assert _recall(matomo_bots) >= 0.85


def test_false_positives_on_browsers_and_none_on_in_app_browsers() -> None:
    _, matomo_browsers, matomo_in_app = corpora.matomo()
    intoli_browsers, intoli_in_app = corpora.intoli()
    assert len(matomo_browsers.agents) > 30_000
    assert len(intoli_browsers.agents) > 9_000
    assert len(matomo_in_app.agents) > 400
    assert len(_bots_in(tuple(matomo_browsers.agents))) <= 0.0002 * len(matomo_browsers.agents)
    assert _bots_in(tuple(intoli_browsers.agents)) == []
    assert _bots_in(tuple(matomo_in_app.agents + intoli_in_app.agents)) == []
