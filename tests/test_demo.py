"""`tracker demo`: a living shop in an empty database, refused in one that holds links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.test_cli import tracker
from tracker.config import Settings
from tracker.main import create_app


class TestDemo:
    async def test_fills_an_empty_database_through_the_real_paths_and_refuses_twice(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        made = tracker("demo", database_url=clean_database)
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith("demo shop: 12 links, ")
        again = tracker("demo", database_url=clean_database)
        assert again.returncode == 1 and "--force" in again.stderr

        settings = Settings(_env_file=None, database_url=clean_database, spool_dir=tmp_path)  # type: ignore[call-arg]
        app = create_app(settings)
        async with app.lifespan():
            key = tracker("keys", "create", "--name", "demo", database_url=clean_database)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {key.stdout.splitlines()[-1]}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=headers
            ) as http:
                since = (datetime.now(UTC) - timedelta(days=90)).date().isoformat()
                params = {"group_by": "utm_campaign", "from": since}
                campaigns = (await http.get("/api/stats", params=params)).json()
                params["group_by"] = "utm_source"
                sources = (await http.get("/api/stats", params=params)).json()
        keys = {row["key"] for row in campaigns["rows"]}
        assert {"spring-sale", "new-mugs", "gift-guide"} <= keys
        assert None in keys  # the order from nowhere we track
        channels = {row["key"] for row in sources["rows"]} - {None}
        assert channels == {"instagram", "facebook", "tiktok", "newsletter"}
        totals = campaigns["totals"]
        assert set(totals["revenue"]) == {"EUR", "USD"}
        assert totals["refunds"] == {"EUR": "30.00"}
        assert totals["bot_clicks"] > 0 and totals["clicks"] > 10_000
        assert totals["orders"] > 100 and totals["cost"]["EUR"] and totals["impressions"]
        assert 0 < totals["unique_visitors"] < totals["clicks"]
