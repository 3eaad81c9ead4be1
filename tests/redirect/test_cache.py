"""The link cache: what it keeps is what the link snapshot holds through a restart in an outage."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import REGISTRY

from tests import factories
from tracker.redirect.link import CachedLink
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

    async def test_first_clicks_on_many_links_wait_for_one_query(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        """After a restart under load each link's first click waited for a query of its own."""
        # The echoes of these creations, heard while the lookups are under way, would have them
        # done again (the test above): this one counts the lookups without them.
        await app.runtime.link_changes.stop()
        slugs = [f"cold{n}" for n in range(40)]
        for slug in slugs:
            await factories.create_link(api, slug=slug, url=f"https://shop.example.com/{slug}")
        cache = app.runtime.link_cache
        cache.forget(*slugs)
        before = _lookups()
        links = await asyncio.gather(*(cache.get(slug) for slug in [*slugs, *slugs, "nowhere"]))
        assert _lookups() - before == 1
        assert links[-1] is None and cache.peek("nowhere") is None
        for slug, link in zip(slugs * 2, links, strict=False):
            assert link is not None and link.click_prefix.startswith(
                f"https://shop.example.com/{slug}"
            )
            assert cache.peek(slug) == link

    async def test_a_slug_asked_for_again_after_a_change_in_the_same_turn_answers_both(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="twice", url="https://shop.example.com/twice")
        cache = app.runtime.link_cache
        cache.forget("twice")

        async def after_a_change() -> CachedLink | None:
            cache.forget("twice")
            return await cache.get("twice")

        first = asyncio.create_task(cache.get("twice"))
        second = asyncio.create_task(after_a_change())
        links = await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert links[0] == links[1] == cache.peek("twice") is not None


def _lookups() -> float:
    found = REGISTRY.get_sample_value("tracker_link_lookup_seconds_count")
    assert found is not None
    return found
