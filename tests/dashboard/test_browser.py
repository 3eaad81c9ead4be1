"""The dashboard in a real headless Chromium against a real `tracker serve`.

Debian's chromium, driven by Playwright through `executable_path` (nothing is
downloaded); axe-core, installed from the npm registry by `.ci/run`, is
injected into each page. Screenshots of the overview, a link page and the
mint form, at desktop and phone widths, land in tests/artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests import factories, platforms, servers
from tests.test_cli import tracker

CHROMIUM = "/usr/bin/chromium"
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
AXE = Path(__file__).parent.parent / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def served(clean_database: str, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A `tracker serve` on its own port: its base URL and an API key."""
    env = servers.environment(
        clean_database, tmp_path, webhook_secret=platforms.WEBHOOK_SECRET, log_level="WARNING"
    )
    key = servers.api_key(env)
    async with servers.running(env, tmp_path) as server:
        yield server.base_url, key


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: .ci/run installs it"
    assert AXE.exists(), "axe-core is missing: .ci/run installs it with npm"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        yield launched
        await launched.close()


class Watched:
    """A page whose console errors and requests are kept, to be checked at the end."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", lambda request: self.hosts.add(urlsplit(request.url).hostname or ""))

    async def accessible(self) -> None:
        """axe-core finds no serious or critical violation (evaluated, so the CSP holds)."""
        await self.page.evaluate(AXE.read_text())
        result: dict[str, Any] = await self.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{self.page.url}: " + "; ".join(bad)

    async def shoot(self, name: str) -> None:
        """Screenshots at both widths; at each, the figures' tables and the chart fit without a
        sideways scroll (a ROAS column or a fortnight behind one is a figure the shop owner
        never sees), and one drawing of the chart shows."""
        ARTIFACTS.mkdir(exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await self.page.set_viewport_size(size)
            await self.page.screenshot(path=ARTIFACTS / f"{name}-{label}.png", full_page=True)
            crowded = await self.page.evaluate(
                """() => [...document.querySelectorAll('.table-wrap, .chart-wrap')]
                    .filter(w => w.querySelector('table.report, table.parts, table.links, svg'))
                    .filter(w => w.scrollWidth > w.clientWidth)
                    .map(w => w.getAttribute('aria-label') || w.className)"""
            )
            assert crowded == [], f"{name} ({label}): {crowded} scroll sideways"
            charts = await self.page.locator("svg.chart:visible").count()
            assert charts == (1 if await self.page.locator("svg.chart").count() else 0)
        await self.page.set_viewport_size(DESKTOP)


async def _order(base_url: str, click_id: str) -> None:
    body = {
        "order_id": "B-1001",
        "amount": "64.00",
        "currency": "EUR",
        "occurred_at": datetime.now(UTC).isoformat(),
        "status": "paid",
        "click_id": click_id,
    }
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await platforms.generic(http, body)
    assert answer.json() == {"status": "accepted"}, answer.text


async def _written(database_url: str, clicks: int) -> None:
    """Wait for the server's click writer (a process of its own) to write ``clicks``, and to
    credit the order that came before its click was written (after the batch's commit)."""

    async def done() -> bool:
        if await servers.count_clicks(database_url) < clicks:
            return False
        waiting = "SELECT count(*) FROM orders WHERE attribution <> 'click'"
        ((uncredited,),) = await servers.rows(database_url, waiting)
        return bool(uncredited == 0)

    await factories.eventually(done)


class TestInChromium:
    async def test_sign_in_mint_see_the_link_record_spend_see_roas(
        self, served: tuple[str, str], browser: Browser, clean_database: str
    ) -> None:
        database_url = clean_database
        base_url, key = served
        context = await browser.new_context(base_url=base_url, viewport=DESKTOP)
        watched = Watched(await context.new_page())
        page = watched.page

        await page.goto("/")
        assert page.url.startswith(f"{base_url}/dashboard/sign-in")
        await watched.accessible()
        await page.fill("#key", "trk_not-a-key")
        await page.click(".sign-in button[type=submit]")
        assert await page.locator("#key-error").inner_text() == "That key is not valid."
        await page.fill("#key", key)
        await page.click(".sign-in button[type=submit]")
        await page.wait_for_url(f"{base_url}/dashboard")
        assert await page.get_by_role("heading", name="Mint your first link").is_visible()
        await watched.accessible()

        await page.click("text=Mint a link >> nth=0")
        await page.wait_for_url(f"{base_url}/dashboard/mint")
        await page.click("form.mint button[type=submit]")  # nothing filled: the error by its field
        assert "URL" in await page.locator("#url-error").inner_text()
        await page.fill("#url", "https://shop.example.com/products/mug?color=blue")
        # Changed, the field no longer says its value is refused (the server checks on submit).
        assert await page.locator("#url-error").is_hidden()
        assert await page.get_attribute("#url", "aria-invalid") is None
        await page.fill("#utm_campaign", "spring-sale")
        await page.fill("#utm_source", "instagram")
        await page.fill("#utm_medium", "social")
        await page.fill("#utm_content", "story-0312")
        await page.fill("#title", "Blue mug, spring story")
        preview = await page.locator("#destination").inner_text()
        assert preview == (
            "https://shop.example.com/products/mug?color=blue&utm_campaign=spring-sale"
            "&utm_source=instagram&utm_medium=social&utm_content=story-0312"
        )
        await watched.accessible()
        await watched.shoot("mint")
        await page.click("form.mint button[type=submit]")
        await page.wait_for_url("**/dashboard/links/*?minted=1")
        short_url = await page.locator("#short-url").input_value()
        slug = short_url.rsplit("/", 1)[1]
        assert await page.locator(".qr-code svg").is_visible()
        assert await page.locator("svg.chart:visible").count() == 1

        async with httpx.AsyncClient() as http:  # two people follow the link
            for agent in (factories.IPHONE, factories.DESKTOP_CHROME):
                # The short URL names TRACKER_BASE_URL; this server listens on its own port.
                headers = {"User-Agent": agent, **factories.BROWSER_HEADERS}
                followed = await http.get(f"{base_url}/{slug}", headers=headers)
                assert followed.status_code == 302
            click_id = followed.headers["location"].rsplit("tclid=", 1)[1]
            # ...and a script on a tablet: a bot click, kept apart, no "tablet 0 0 –" row.
            await http.get(f"{base_url}/{slug}", headers={"User-Agent": IPAD})
        await _order(base_url, click_id)
        await _written(database_url, 3)

        await page.goto("/dashboard/links")
        row = page.locator("table.links tbody tr", has_text="Blue mug, spring story")
        assert await row.count() == 1
        await watched.accessible()
        await row.locator("a").first.click()
        await page.wait_for_url(f"**/dashboard/links/{slug}")
        await page.wait_for_function("document.querySelectorAll('svg.chart rect.bar').length > 0")
        devices = page.locator("table.parts", has_text="Device").locator("tbody tr")
        assert sorted(" ".join(row.split()) for row in await devices.all_inner_texts()) == [
            "desktop 1 1 64.00 EUR",
            "mobile 1 0 –",
        ]
        assert await page.locator(".apart").inner_text() == (
            "1 bot or link-preview click, not counted above."
        )
        await watched.accessible()
        await watched.shoot("link")

        await page.goto("/dashboard/spend")
        await page.fill("#name", "spring-sale")
        await page.fill("#amount", "16.00")
        await page.fill("#impressions", "2000")
        await watched.accessible()
        await page.click("form.mint button[type=submit]")
        await page.wait_for_url("**/dashboard/spend?recorded=1")

        await page.goto("/dashboard")
        spend = await page.locator(".spend-box").inner_text()
        assert "4.00× EUR" in spend and "16.00 EUR" in spend  # 64.00 / 16.00
        assert "Mint your first link" not in await page.content()
        await watched.accessible()
        await watched.shoot("overview")

        await page.goto("/dashboard/orders")
        assert await page.locator("td", has_text="B-1001").count() == 1
        await watched.accessible()

        await page.click("text=Sign out")
        await page.wait_for_url("**/dashboard/sign-in")
        await page.goto("/dashboard")
        assert "/dashboard/sign-in" in page.url

        # Chromium reports a page answered 4xx as a console error: the two refused on purpose.
        refused = "Failed to load resource: the server responded with a status of"
        assert watched.errors == [
            f"{refused} 401 (Unauthorized)",
            f"{refused} 422 (Unprocessable Entity)",
        ]
        assert watched.hosts == {"127.0.0.1"}
        cookies = {cookie["name"]: cookie for cookie in await context.cookies()}
        session = cookies["tracker_session"]
        assert (session["httpOnly"], session["sameSite"]) == (True, "Lax")
        assert json.dumps(session)  # a plain cookie, nothing else stored
        await context.close()

    async def test_the_demo_shop_reads_at_a_glance(
        self, served: tuple[str, str], browser: Browser, clean_database: str
    ) -> None:
        """A living dashboard a minute after install: the demo's data on every page."""
        base_url, key = served
        made = tracker("demo", database_url=clean_database)
        assert made.returncode == 0, made.stderr
        context = await browser.new_context(base_url=base_url, viewport=DESKTOP)
        watched = Watched(await context.new_page())
        page = watched.page
        await page.goto("/dashboard/sign-in")
        await page.fill("#key", key)
        await page.click(".sign-in button[type=submit]")
        await page.wait_for_url(f"{base_url}/dashboard")
        assert await page.locator(".funnel li").count() == 5
        assert "bot and link-preview clicks, not" in await page.locator(".apart").inner_text()
        await watched.accessible()
        await watched.shoot("overview-demo")
        await page.goto("/dashboard/links?sort=net")
        assert await page.locator("table.links tbody tr").count() == 12
        await watched.accessible()
        await watched.shoot("links-demo")
        await page.goto("/dashboard/orders")
        await watched.accessible()
        await watched.shoot("orders-demo")
        assert watched.errors == []
        assert watched.hosts == {"127.0.0.1"}
        await context.close()
