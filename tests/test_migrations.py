"""The ORM models and the Alembic migrations describe the same schema, on both databases."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tests import servers
from tracker.db import migrate
from tracker.db.engine import create_engine, dialect_of
from tracker.models import Base
from tracker.orders import privacy


def _diff(connection: Connection) -> list[Any]:
    options = {"compare_type": True, "include_object": migrate.include_in(connection.dialect.name)}
    context = MigrationContext.configure(connection, opts=options)
    return list(compare_metadata(context, Base.metadata))


class TestMigrations:
    async def test_models_and_migrations_do_not_drift(self, clean_database: str) -> None:
        engine = create_engine(clean_database)
        try:
            async with engine.connect() as connection:
                diff = await connection.run_sync(_diff)
        finally:
            await engine.dispose()
        assert diff == []

    def test_orders_refunded_before_the_flag_existed_are_flagged(self, clean_database: str) -> None:
        _upgrade_from("9c4d2e7a1b55", clean_database, _SHOP_BEFORE_THE_FLAG)  # before has_refunds
        flags = asyncio.run(_run(clean_database, "SELECT external_id, has_refunds FROM orders"))
        assert sorted((external_id, bool(flag)) for external_id, flag in flags) == [
            ("kept", False),
            ("refunded", True),
        ]

    def test_float_gaps_become_whole_milliseconds(self, clean_database: str) -> None:
        _upgrade_from("5e1a7c3d9b08", clean_database, _GAPS_IN_SECONDS)  # before ms_to_order
        gaps = asyncio.run(_run(clean_database, "SELECT external_id, ms_to_order FROM orders"))
        assert sorted(gaps) == [("credited", 90_002), ("uncredited", None)]

    def test_clicks_by_month_keep_every_row(self, clean_database: str) -> None:
        """The partitioning migration on a populated database: every click kept, an order
        still names its click, and the click is still found by its id."""
        _upgrade_from("6f2b8d4c0e53", clean_database, _CLICKS_OVER_THREE_MONTHS)
        clicks = asyncio.run(_run(clean_database, "SELECT id, clicked_at FROM clicks"))
        assert sorted(click_id for click_id, _ in clicks) == ["aug", "oct", "sep-1", "sep-2"]
        (order,) = asyncio.run(_run(clean_database, "SELECT attributed_click_id FROM orders"))
        assert order == ("sep-1",)
        if dialect_of(clean_database) == "postgresql":
            months = asyncio.run(
                _run(
                    clean_database,
                    "SELECT c.relname, count(*) OVER () FROM pg_inherits"
                    " JOIN pg_class c ON c.oid = inhrelid JOIN pg_class p ON p.oid = inhparent"
                    " WHERE p.relname = 'clicks' ORDER BY 1",
                )
            )
            names = [name for name, _ in months]
            assert names[:3] == ["clicks_y2026m08", "clicks_y2026m09", "clicks_y2026m10"]
            found = asyncio.run(_run(clean_database, "SELECT count(*) FROM clicks_y2026m09"))
            assert found == [(2,)]

    def test_the_months_are_the_days_summed(self, clean_database: str) -> None:
        _upgrade_from("7a3c9e5d1f64", clean_database, _DAYS_OVER_TWO_MONTHS)  # before click_months
        months = asyncio.run(
            _run(
                clean_database,
                "SELECT link_id, month, clicks, bot_clicks, unique_visitors FROM click_months",
            )
        )
        assert sorted((link, str(month), *counts) for link, month, *counts in months) == [
            (1, "2026-09-01", 7, 1, 5),
            (1, "2026-10-01", 4, 0, 4),
        ]


_DAYS_OVER_TWO_MONTHS = """
INSERT INTO links (slug, url, redirect_status, disabled, created_at, updated_at, clicks_reserved)
VALUES ('m', 'https://shop.example.com/', 302, false, '2026-08-01 00:00:00',
        '2026-08-01 00:00:00', 0);
INSERT INTO click_days (link_id, day, clicks, bot_clicks, unique_visitors)
VALUES (1, '2026-09-01', 3, 0, 2), (1, '2026-09-30', 4, 1, 3), (1, '2026-10-01', 4, 0, 4)
"""

_CLICKS_OVER_THREE_MONTHS = """
INSERT INTO links (slug, url, redirect_status, disabled, created_at, updated_at, clicks_reserved)
VALUES ('m', 'https://shop.example.com/', 302, false, '2026-08-01 00:00:00',
        '2026-08-01 00:00:00', 0);
INSERT INTO clicks (id, link_id, clicked_at, device_type, is_bot, visitor_hash)
VALUES ('aug', 1, '2026-08-31 23:59:59', 'mobile', false, 'v'),
       ('sep-1', 1, '2026-09-01 00:00:00', 'mobile', false, 'v'),
       ('sep-2', 1, '2026-09-30 12:00:00', 'desktop', true, 'w'),
       ('oct', 1, '2026-10-15 08:00:00', 'mobile', false, 'v');
INSERT INTO orders (platform, shop, external_id, amount_minor, currency, status, occurred_at,
                    is_test, attribution, attributed_click_id, link_id, created_at, updated_at)
VALUES ('generic', 's', 'o1', 100, 'EUR', 'paid', '2026-09-01 01:00:00', false, 'click',
        'sep-1', 1, '2026-09-01 01:00:00', '2026-09-01 01:00:00')
"""


class TestMigratingApart:
    """`tracker serve` migrates in a child process, so that the server never carries Alembic."""

    def test_a_child_brings_the_schema_to_head(self, clean_database: str) -> None:
        config = migrate.alembic_config(clean_database)
        command.downgrade(config, "4c7e2a9d1b35")
        try:
            migrate.upgrade_apart(clean_database)
            found = asyncio.run(_run(clean_database, "SELECT version_num FROM alembic_version"))
        finally:
            migrate.upgrade(clean_database)
        assert found == [(ScriptDirectory.from_config(config).get_current_head(),)]

    def test_an_unreachable_database_is_told_apart(self, database_url: str) -> None:
        """Asked again and again, as `tracker serve` does through an outage: with aiosqlite,
        about one try in seven left a thread that found its loop closed, which pytest reports
        as a failure (of this test, or of the next one)."""
        for _ in range(30):
            with pytest.raises(migrate.Unreachable):
                migrate.upgrade_apart(servers.unreachable(database_url))

    def test_neither_the_command_nor_the_app_imports_alembic(self) -> None:
        code = "import sys, tracker.cli, tracker.main; print(sorted({*sys.modules} & {'alembic'}))"
        imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert (imported.returncode, imported.stdout) == (0, "[]\n")


class TestScrubbedBodies:
    def test_bodies_stored_before_keep_no_one(self, clean_database: str) -> None:
        """A delivery stored before bodies were scrubbed loses its buyer's fields on upgrade."""
        raw = '{"id": 1, "email": "jo@example.com", "browser_ip": "198.51.100.23", "total": "9.90"}'
        as_bytes = (
            "CAST('{}' AS BLOB)"
            if dialect_of(clean_database) == "sqlite"
            else ("convert_to('{}', 'UTF8')")
        )
        _upgrade_from(
            "4c7e2a9d1b35", clean_database, _DELIVERY_WITH_A_BUYER.format(as_bytes.format(raw))
        )
        ((body,),) = asyncio.run(_run(clean_database, "SELECT body FROM deliveries"))
        kept = json.loads(bytes(body))
        assert kept == {"id": 1, "email": privacy.email_token("jo@example.com"), "total": "9.90"}


_DELIVERY_WITH_A_BUYER = """
INSERT INTO deliveries (platform, shop, event_id, topic, body, received_at)
VALUES ('shopify', 's', 'e1', 'orders/create', {}, '2026-11-20 10:00:00')
"""


def _upgrade_from(revision: str, database_url: str, statements: str) -> None:
    """Run ``statements`` on the schema as it was at ``revision``, then upgrade to the head."""
    command.downgrade(migrate.alembic_config(database_url), revision)
    try:
        asyncio.run(_run(database_url, statements))
    finally:
        migrate.upgrade(database_url)


_GAPS_IN_SECONDS = """
INSERT INTO orders (platform, shop, external_id, amount_minor, currency, status, occurred_at,
                    is_test, attribution, seconds_to_order, created_at, updated_at)
VALUES ('shopify', 's', 'credited', 100, 'EUR', 'paid', '2026-11-20 10:00:00', false, 'click',
        90.0016, '2026-11-20 10:00:00', '2026-11-20 10:00:00'),
       ('shopify', 's', 'uncredited', 100, 'EUR', 'paid', '2026-11-20 10:00:00', false, 'none',
        NULL, '2026-11-20 10:00:00', '2026-11-20 10:00:00')
"""

_SHOP_BEFORE_THE_FLAG = """
INSERT INTO orders (platform, shop, external_id, amount_minor, currency, status, occurred_at,
                    is_test, attribution, created_at, updated_at)
VALUES ('shopify', 's', 'refunded', 100, 'EUR', 'paid', '2026-11-20 10:00:00', false, 'none',
        '2026-11-20 10:00:00', '2026-11-20 10:00:00'),
       ('shopify', 's', 'kept', 100, 'EUR', 'paid', '2026-11-20 10:00:00', false, 'none',
        '2026-11-20 10:00:00', '2026-11-20 10:00:00');
INSERT INTO refunds (platform, shop, external_id, order_external_id, amount_minor, currency,
                     refunded_at)
VALUES ('shopify', 's', 'r1', 'refunded', 40, 'EUR', '2026-11-21 10:00:00')
"""


async def _run(database_url: str, statements: str) -> list[Any]:
    engine = create_engine(database_url)
    rows: list[Any] = []
    try:
        async with engine.begin() as connection:
            for statement in statements.split(";"):
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows.extend(result.all())
    finally:
        await engine.dispose()
    return rows
