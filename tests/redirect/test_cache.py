"""The link cache: what it keeps is what the link snapshot holds through a restart in an outage."""

from __future__ import annotations

import asyncio

import httpx

from tests import factories
from tracker.server.dispatch import TrackerApp


class TestLinkCache:
    async def test_a_lookup_that_a_change_notice_overtook_is_done_again_and_kept(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        """The echo of a link's own creation can arrive while its first click looks it up: that
        answer may predate the change, so it is looked up again, and kept, not served once and
        forgotten (the snapshot, saved from memory, would lack a link served here)."""
        await factories.create_link(api, slug="kept", url="https://shop.example.com/kept")
        cache = app.runtime.link_cache
        lookup = asyncio.create_task(cache.get("kept"))
        await asyncio.sleep(0)  # the lookup is under way
        cache.reload("kept")
        link = await lookup
        assert link is not None and link.click_prefix.startswith("https://shop.example.com/kept")
        assert cache.peek("kept") == link
