"""How long the migration that partitions `clicks` by month takes on a populated PostgreSQL.

    python bench/partitions.py [--clicks 10000000]

Builds the schema as it was before the migration, fills it with clicks
spread over the last 365 days (`generate_series`, on the server), then times
`tracker db upgrade` to the head, checks that every click is still there, and
prints what the partitioned table looks like. The baseline is a plain copy of
the same table (CREATE TABLE … AS SELECT) timed beside it: the least any
conversion that rewrites the rows costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.db import migrate

POSTGRES_ADMIN = os.environ.get(
    "TRACKER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BEFORE = "6f2b8d4c0e53"  # the revision before clicks_by_month

FILL = """
INSERT INTO links (slug, url, redirect_status, disabled, created_at, updated_at, clicks_reserved)
SELECT 'p' || n, 'https://shop.example.com/', 302, false, now(), now(), 0
FROM generate_series(1, 1000) n;
INSERT INTO clicks (id, link_id, clicked_at, referrer_host, user_agent, device_type, browser,
                    os, is_bot, visitor_hash, country)
SELECT lpad(to_hex(n), 24, '0'), 1 + n % 1000,
       now() - (n::bigint * 31536 / $1) * interval '1 second' * 1000,
       'l.instagram.com', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148',
       'mobile', 'Mobile Safari', 'iOS', n % 10 = 0, md5(n::text), 'DE'
FROM generate_series(1, $1) n
"""


async def _sql(url: str, statement: str, *args: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def _fill(url: str, clicks: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        links, click_rows = FILL.strip().split(";\n")
        await connection.execute(links)
        await connection.execute(click_rows, clicks)
        await connection.execute("VACUUM ANALYZE clicks")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=10_000_000)
    args = parser.parse_args()
    name = f"tracker_partitions_{uuid.uuid4().hex[:8]}"
    asyncio.run(_sql(POSTGRES_ADMIN, f'CREATE DATABASE "{name}"'))
    plain = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    url = plain.replace("postgresql://", "postgresql+asyncpg://")
    try:
        migrate.upgrade(url, BEFORE)
        started = time.perf_counter()
        asyncio.run(_fill(plain, args.clicks))
        print(
            f"{args.clicks:,} clicks over 365 days loaded in {time.perf_counter() - started:.0f} s"
        )

        started = time.perf_counter()
        asyncio.run(_sql(plain, "CREATE TABLE clicks_copy AS SELECT * FROM clicks"))
        baseline = time.perf_counter() - started
        asyncio.run(_sql(plain, "DROP TABLE clicks_copy"))

        started = time.perf_counter()
        migrate.upgrade(url)
        seconds = time.perf_counter() - started

        kept = asyncio.run(_sql(plain, "SELECT count(*) FROM clicks"))
        months = asyncio.run(
            _sql(
                plain,
                "SELECT count(*) FROM pg_inherits JOIN pg_class p ON p.oid = inhparent"
                " WHERE p.relname = 'clicks'",
            )
        )
        size = asyncio.run(
            _sql(
                plain,
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                " WHERE inhparent = 'clicks'::regclass",
            )
        )
        print(f"a plain copy of the table (baseline): {baseline:.1f} s")
        print(
            f"the migration: {seconds:.1f} s ({seconds / baseline:.1f}x the copy); "
            f"{kept:,} of {args.clicks:,} clicks kept in {months} monthly partitions"
        )
        print(f"on disk: {int(size) / args.clicks:.0f} bytes a click, rows and indexes")  # type: ignore[call-overload]
        assert kept == args.clicks
    finally:
        asyncio.run(_sql(POSTGRES_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
