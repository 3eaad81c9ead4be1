"""The spend API (SPEC §7): record, replace, list, delete, and bad input that changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import factories
from tests.test_cli import tracker
from tracker.config import Settings
from tracker.models import Spend
from tracker.server.dispatch import TrackerApp


class TestSpend:
    async def test_record_replace_list_delete(
        self, api: httpx.AsyncClient, app: TrackerApp
    ) -> None:
        await factories.create_link(api, slug="ad")
        first = await api.post(
            "/api/spend",
            json={
                "link": "ad",
                "date": "2026-11-20",
                "amount": "12.5",
                "currency": "eur",
                "impressions": 900,
            },
        )
        assert first.status_code == 201, first.text
        recorded = first.json()
        assert (recorded["link"], recorded["utm_campaign"], recorded["date"]) == (
            "ad",
            None,
            "2026-11-20",
        )
        assert (recorded["amount"], recorded["currency"], recorded["impressions"]) == (
            "12.50",
            "EUR",
            900,
        )
        again = await api.post(
            "/api/spend",
            json={"link": "ad", "date": "2026-11-20", "amount": "15.00", "currency": "EUR"},
        )
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        await api.post(
            "/api/spend",
            json={
                "utm_campaign": "spring",
                "date": "2026-11-21",
                "amount": "3000",
                "currency": "JPY",
            },
        )
        listed = (await api.get("/api/spend")).json()["items"]
        assert [(i["link"], i["utm_campaign"], i["amount"], i["impressions"]) for i in listed] == [
            ("ad", None, "15.00", None),
            (None, "spring", "3000", None),
        ]
        assert (
            len((await api.get("/api/spend", params={"start": "2026-11-21"})).json()["items"]) == 1
        )
        assert len((await api.get("/api/spend", params={"link": "ad"})).json()["items"]) == 1
        assert (await api.delete(f"/api/spend/{first.json()['id']}")).status_code == 204
        assert (await api.delete(f"/api/spend/{first.json()['id']}")).status_code == 404
        assert await factories.count(app, Spend) == 1

    @pytest.mark.parametrize(
        ("body", "word"),
        [
            ({"date": "2026-11-20", "amount": "1", "currency": "EUR"}, "exactly one"),
            (
                {
                    "link": "ad",
                    "utm_campaign": "c",
                    "date": "2026-11-20",
                    "amount": "1",
                    "currency": "EUR",
                },
                "exactly one",
            ),
            (
                {"utm_campaign": "c", "date": "2026-11-20", "amount": "-1", "currency": "EUR"},
                "amount",
            ),
            (
                {"utm_campaign": "c", "date": "2026-11-20", "amount": "1.001", "currency": "EUR"},
                "decimals",
            ),
            (
                {"utm_campaign": "c", "date": "2026-11-20", "amount": "1", "currency": "EURO"},
                "currency",
            ),
            ({"utm_campaign": "c", "date": "2026-02-30", "amount": "1", "currency": "EUR"}, "date"),
            (
                {"utm_campaign": "c", "date": "2026-11-20", "amount": "NaN", "currency": "EUR"},
                "amount",
            ),
            (
                {
                    "utm_campaign": "c",
                    "date": "2026-11-20",
                    "amount": "1",
                    "currency": "EUR",
                    "impressions": -5,
                },
                "impressions",
            ),
            (
                {
                    "utm_campaign": "c",
                    "date": "2026-11-20",
                    "amount": "1",
                    "currency": "EUR",
                    "clicks": 5,
                },
                "clicks",
            ),
        ],
    )
    async def test_bad_input_is_422_and_stores_nothing(
        self, api: httpx.AsyncClient, app: TrackerApp, body: dict[str, Any], word: str
    ) -> None:
        await factories.create_link(api, slug="ad")
        response = await api.post("/api/spend", json=body)
        assert response.status_code == 422, response.text
        assert word in response.text
        assert await factories.count(app, Spend) == 0

    async def test_an_unknown_link_is_404(self, api: httpx.AsyncClient, app: TrackerApp) -> None:
        response = await api.post(
            "/api/spend",
            json={"link": "nope", "date": "2026-11-20", "amount": "1", "currency": "EUR"},
        )
        assert response.status_code == 404
        assert await factories.count(app, Spend) == 0

    async def test_needs_a_key(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/spend")).status_code == 401
        assert (await client.post("/api/spend", json={})).status_code == 401

    @pytest.mark.parametrize("amount", ["1e30", "92233720368547758.07", "10000000000.01"])
    async def test_an_amount_no_shop_spends_is_422_naming_it(
        self, api: httpx.AsyncClient, app: TrackerApp, amount: str
    ) -> None:
        body = {"utm_campaign": "c", "date": "2026-11-20", "amount": amount, "currency": "EUR"}
        response = await api.post("/api/spend", json=body)
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "amount"] and "over the limit" in error["msg"]
        assert await factories.count(app, Spend) == 0


class TestCommandLine:
    async def test_spend_add_and_stats(self, api: httpx.AsyncClient, settings: Settings) -> None:
        url = settings.database_url
        added = tracker(
            "spend",
            "add",
            "--campaign",
            "spring",
            "--date",
            "2026-11-20",
            "--amount",
            "7.50",
            "--currency",
            "usd",
            "--impressions",
            "300",
            database_url=url,
        )
        assert added.returncode == 0, added.stderr
        assert "recorded spend 1: 7.50 USD on 2026-11-20" in added.stdout
        bad = tracker(
            "spend",
            "add",
            "--campaign",
            "spring",
            "--date",
            "2026-11-20",
            "--amount",
            "-1",
            "--currency",
            "USD",
            database_url=url,
        )
        assert bad.returncode == 2 and "amount" in bad.stderr
        shown = tracker(
            "stats",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--group-by",
            "utm_campaign",
            database_url=url,
            env={"COLUMNS": "200"},
        )
        assert shown.returncode == 0, shown.stderr
        assert "spring" in shown.stdout and "7.50 USD" in shown.stdout and "TOTAL" in shown.stdout
        wrong = tracker("stats", "--tz", "Nowhere/City", database_url=url)
        assert wrong.returncode == 1 and "tz: unknown time zone" in wrong.stderr


class TestIds:
    async def test_an_id_no_row_can_have_is_422_not_a_crash(self, api: httpx.AsyncClient) -> None:
        """schemathesis found this one: SQLite cannot even bind an integer past 2**63."""
        for spend_id in ("99999999999999999999", "0", "-1"):
            assert (await api.delete(f"/api/spend/{spend_id}")).status_code == 422
        assert (await api.delete("/api/spend/9223372036854775807")).status_code == 404
