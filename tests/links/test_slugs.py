"""Slug rules without a database."""

from __future__ import annotations

import string

import pytest

from tracker.links import slugs


class TestSlugs:
    def test_generated_slugs_are_seven_base62_characters_and_vary(self) -> None:
        generated = {slugs.generate() for _ in range(2000)}
        assert len(generated) == 2000
        alphabet = set(string.ascii_letters + string.digits)
        assert all(len(slug) == 7 and set(slug) <= alphabet for slug in generated)

    @pytest.mark.parametrize("slug", ["a", "A-b_9", "x" * 64, "apis", "docs2"])
    def test_valid(self, slug: str) -> None:
        assert slugs.is_valid(slug)

    @pytest.mark.parametrize(
        "slug",
        [
            "",
            "x" * 65,
            "a/b",
            "a.b",
            "a b",
            "café",
            "api",
            "API",
            "Webhooks",
            "dashboard",
            "metrics",
            "healthz",
            "readyz",
            "docs",
            "static",
        ],
    )
    def test_invalid_or_reserved(self, slug: str) -> None:
        assert not slugs.is_valid(slug)
