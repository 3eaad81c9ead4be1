"""Reading a visitor: bots, devices, the salted hash and the client address. No database."""

from __future__ import annotations

import ipaddress

import pytest

from tracker import addresses
from tracker.clicks import visitor

HUMANS = [
    # (user agent, device type, browser, os)
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "desktop",
        "Chrome",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Safari/605.1.15",
        "desktop",
        "Safari",
        "Mac OS X",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "desktop",
        "Firefox",
        "Linux",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "mobile",
        "Mobile Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36",
        "mobile",
        "Chrome Mobile",
        "Android",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1",
        "tablet",
        "Mobile Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Instagram 312.0.0.34.111 (iPhone14,5; iOS 17_1; en_US)",
        "mobile",
        "Instagram",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/442.0.0.33.110;]",
        "mobile",
        "Facebook",
        "Android",
    ),
]

BOTS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "curl/8.4.0",
    "Wget/1.21.3",
    "python-requests/2.31.0",
    "python-httpx/0.28.1",
    "Go-http-client/1.1",
    "",
]


class TestUserAgents:
    @pytest.mark.parametrize(("agent", "device", "browser", "os_name"), HUMANS)
    def test_people(self, agent: str, device: str, browser: str, os_name: str) -> None:
        info = visitor.read_user_agent(agent)
        assert info == visitor.UserAgentInfo(False, device, browser, os_name)

    @pytest.mark.parametrize("agent", BOTS)
    def test_bots_previews_monitors_and_libraries(self, agent: str) -> None:
        info = visitor.read_user_agent(agent)
        assert info.is_bot and info.device_type == "bot"

    def test_user_agents_read_alike_share_one_reading(self) -> None:
        """The writer caches 20,000 user agents; one copy of each reading, not one per agent
        (20,000 distinct ones: 1,118 readings, 13.6 -> 11 MB)."""
        chrome = (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/{}.0.0.0 Safari/537.36"
        )
        readings = [visitor.read_user_agent(chrome.format(version)) for version in (120, 121)]
        assert readings[0] == visitor.UserAgentInfo(False, "desktop", "Chrome", "Windows")
        assert readings[0] is readings[1]


class TestVisitorHash:
    def test_same_day_same_hash_next_day_another(self) -> None:
        today, tomorrow = b"t" * 32, b"m" * 32
        first = visitor.visitor_hash(today, "198.51.100.7", "UA")
        assert first == visitor.visitor_hash(today, "198.51.100.7", "UA")
        assert first != visitor.visitor_hash(tomorrow, "198.51.100.7", "UA")
        assert first != visitor.visitor_hash(today, "198.51.100.8", "UA")
        assert first != visitor.visitor_hash(today, "198.51.100.7", "UA2")
        assert len(first) == 32 and "198" not in first

    def test_address_and_agent_cannot_be_shifted_into_each_other(self) -> None:
        salt = b"s" * 32
        assert visitor.visitor_hash(salt, "1.2.3.4", "5 UA") != visitor.visitor_hash(
            salt, "1.2.3.45", " UA"
        )

    def test_the_hash_of_a_visitor_does_not_change_across_versions(self) -> None:
        """A deploy in the middle of a day must not make that day's visitors strangers."""
        hashed = visitor.visitor_hash(b"s" * 32, "203.0.113.7", "Mozilla/5.0 ü")
        assert hashed == "bb6a18f817896fbdd2c63f238af3b49a"


TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


class TestClientAddress:
    @pytest.mark.parametrize(
        ("peer", "forwarded", "expected"),
        [
            ("198.51.100.1", None, "198.51.100.1"),
            ("198.51.100.1", "203.0.113.9", "198.51.100.1"),  # untrusted peer: header ignored
            ("10.0.0.1", "203.0.113.9", "203.0.113.9"),
            ("10.0.0.1", "1.1.1.1, 203.0.113.9", "203.0.113.9"),  # client-written entry ignored
            ("10.0.0.1", "203.0.113.9, 10.0.0.2", "203.0.113.9"),  # chain of trusted proxies
            ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),
            ("10.0.0.1", "not-an-ip", "10.0.0.1"),
            ("10.0.0.1", "", "10.0.0.1"),
            ("fd00::1", "2001:db8::5", "2001:db8::5"),
            ("::ffff:10.0.0.1", "203.0.113.9", "203.0.113.9"),
        ],
    )
    def test_trusted_proxies(self, peer: str, forwarded: str | None, expected: str) -> None:
        assert addresses.client_address(peer, forwarded, TRUSTED) == expected

    def test_without_trusted_proxies_the_peer_is_the_client(self) -> None:
        assert addresses.client_address("10.0.0.1", "203.0.113.9", []) == "10.0.0.1"


class TestSmallReaders:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("de", "DE"),
            ("US", "US"),
            ("XX", "XX"),
            ("", None),
            ("DEU", None),
            ("1a", None),
            (None, None),
            ("ñx", None),
        ],
    )
    def test_country(self, value: str | None, expected: str | None) -> None:
        assert visitor.country(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://t.co/abc", "t.co"),
            ("https://L.Instagram.com/?u=x", "l.instagram.com"),
            ("android-app://com.google.android.gm/", "com.google.android.gm"),
            ("not a url", None),
            ("http://[::1", None),
            (None, None),
        ],
    )
    def test_referrer_host(self, value: str | None, expected: str | None) -> None:
        assert visitor.referrer_host(value) == expected
