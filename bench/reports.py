"""Report latency at 1M and 10M clicks, or over a year of data, on SQLite and PostgreSQL.

    python bench/reports.py [--sizes 1000000,10000000] [--repeat 10] [--rounds 3] [--keep]
    python bench/reports.py --year [--keep | --urls URL,URL]

Bulk-loads 2,000 links, the clicks spread over 90 days (10 % bots), 1 % of
them followed by an order (one in twenty refunded), and daily spend per
campaign; builds the daily rollup. Once every size is loaded, times the common
questions through the real app (median of --repeat, after one warm-up), every
database in turn for --rounds rounds, and prints the median of the rounds and
how it grows from the smallest size to the largest.

--year loads a shop that has run for a year: 20,000 links over 365 days, 20M
clicks, about 200,000 orders, daily spend for 200 campaigns; and prints each
question's median beside its target (PostgreSQL's; SQLite's is 2.5 times
it), ending with one line: how many targets were met. The targets are
milliseconds on this machine at its usual speed, so it also prints the
yardstick (a fixed piece of Python) timed before and after the questions.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.clicks import rebuild, retention
from tracker.config import Settings
from tracker.db import migrate
from tracker.db.driver import DriverDatabase
from tracker.db.engine import create_engine, create_sessionmaker
from tracker.main import create_app

POSTGRES_ADMIN = os.environ.get(
    "TRACKER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CHUNK = 250_000
SOURCES = ["instagram", "facebook", "tiktok", "newsletter", "x", "linkedin", "pinterest", "youtube"]
DEVICES = [
    ("mobile", "Mobile Safari", "iOS"),
    ("mobile", "Chrome Mobile", "Android"),
    ("desktop", "Chrome", "Windows"),
    ("desktop", "Safari", "Mac OS X"),
    ("tablet", "Mobile Safari", "iOS"),
]
REFERRERS = ["l.instagram.com", "m.facebook.com", "t.co", "www.tiktok.com", None]
COUNTRIES = ["DE", "FR", "US", "GB", "NL", None]
CLICK_COLUMNS = [
    "id",
    "link_id",
    "clicked_at",
    "referrer_host",
    "referrer",
    "user_agent",
    "device_type",
    "browser",
    "os",
    "is_bot",
    "visitor_hash",
    "country",
    "query",
]
ORDER_COLUMNS = [
    "id",
    "platform",
    "shop",
    "external_id",
    "amount_minor",
    "currency",
    "status",
    "occurred_at",
    "is_test",
    "customer_hash",
    "click_id",
    "landing_url",
    "link_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "attributed_click_id",
    "attribution",
    "ms_to_order",
    "has_refunds",
    "source_updated_at",
    "created_at",
    "updated_at",
]
REFUND_COLUMNS = [
    "platform",
    "shop",
    "external_id",
    "order_external_id",
    "amount_minor",
    "currency",
    "refunded_at",
]


@dataclass(frozen=True)
class Shape:
    """How many links share the clicks, over how many campaigns and days."""

    links: int = 2000
    campaigns: int = 40
    days: int = 90


YEAR = Shape(links=20_000, campaigns=200, days=365)
YEAR_CLICKS = 20_000_000
SQLITE_SLACK = 2.5  # SQLite's target is PostgreSQL's times this
# The targets are milliseconds on this machine at its usual speed, which drifts threefold
# from day to day: `yardstick_ms` took this on 2026-11-30, a morning at that speed.
USUAL_YARDSTICK = "87-93 ms"


def year_questions(today: date) -> dict[str, tuple[str, float]]:
    """The year's questions: path and PostgreSQL's target median in ms."""
    year = f"from={today - timedelta(days=364)}&to={today}"
    return {
        "utm_campaign, 365 days": (f"/api/stats?group_by=utm_campaign&{year}", 150),
        "month, 1 campaign, 365 days": (
            f"/api/stats?group_by=month&utm_campaign=campaign-3&{year}",
            100,
        ),
        "utm_source, 30 days": ("/api/stats?group_by=utm_source", 100),
        "one link, 365 days": (f"/api/links/l00002/stats?{year}", 50),
    }


class Target:
    """One database being loaded: SQLite through sqlite3, PostgreSQL through COPY."""

    def __init__(self, kind: str, workdir: Path, url: str | None = None) -> None:
        self.kind = kind
        self.seconds = 0.0  # spent storing rows
        if url is not None:  # kept by an earlier --keep: brought up to the newest schema
            self.url = url
            if kind == "sqlite":
                self.path = Path(url.split("///", 1)[1])
            else:
                self.name = url.rsplit("/", 1)[1]
        elif kind == "sqlite":
            self.path = workdir / f"reports-{uuid.uuid4().hex[:6]}.db"
            self.url = f"sqlite+aiosqlite:///{self.path}"
        else:
            self.name = f"tracker_reports_{uuid.uuid4().hex[:8]}"
            asyncio.run(_admin(f'CREATE DATABASE "{self.name}"'))
            self.url = (
                POSTGRES_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
                + f"/{self.name}"
            )
        started = time.perf_counter()
        migrate.upgrade(self.url)
        if url is not None:
            print(f"  {kind}: migrated in {time.perf_counter() - started:.1f} s", flush=True)

    @classmethod
    def kept(cls, url: str, workdir: Path) -> Target:
        return cls("sqlite" if url.startswith("sqlite") else "postgresql", workdir, url)

    def copy(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        self._store(table, columns, rows)
        self.seconds += time.perf_counter() - started

    @functools.cached_property
    def _sqlite(self) -> sqlite3.Connection:
        """One connection for the whole load, its cache large enough for the indexes: with
        SQLite's 2 MB, each random id and hash cost page reads, and 20M clicks took hours."""
        connection = sqlite3.connect(self.path, check_same_thread=False)  # one thread at a time
        connection.execute("PRAGMA cache_size = -4000000")  # 4 GB, in KiB
        connection.execute("PRAGMA synchronous = OFF")  # a bench's load: nothing to keep safe
        return connection

    def loaded(self) -> None:
        """Done loading: the load's connection closes (the app opens its own)."""
        if "_sqlite" in self.__dict__:
            self.__dict__.pop("_sqlite").close()

    def copy_all(self, tables: list[tuple[str, list[str], list[tuple[Any, ...]]]]) -> None:
        for table, columns, rows in tables:
            self.copy(table, columns, rows)

    def _store(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        if self.kind == "sqlite":
            marks = ", ".join("?" * len(columns))
            converted = [tuple(_sqlite(v) for v in row) for row in rows]
            with self._sqlite:
                self._sqlite.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", converted
                )
        else:
            asyncio.run(self._copy(table, columns, rows))

    async def _copy(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{self.name}")
        try:
            await connection.copy_records_to_table(table, records=rows, columns=columns)
        finally:
            await connection.close()

    def make_partitions(self, first: datetime, last: datetime) -> None:
        """PostgreSQL's months of clicks, as the click writer makes them (COPY does not)."""
        if self.kind == "postgresql":
            asyncio.run(self._make_partitions(first, last))

    async def _make_partitions(self, first: datetime, last: datetime) -> None:
        database = DriverDatabase(self.url)
        try:
            months = retention.months_between(first.date(), last.date())
            await retention.ensure_partitions(database, months)
        finally:
            await database.close()

    def drop(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def links(now: datetime, shape: Shape) -> list[tuple[Any, ...]]:
    rows = []
    for n in range(1, shape.links + 1):
        rows.append(
            (
                n,
                f"l{n:05d}",
                "https://shop.example.com/products/p?x=1",
                SOURCES[n % len(SOURCES)],
                "social",
                f"campaign-{n % shape.campaigns}",
                None,
                f"post-{n}",
                None,
                None,
                None,
                302,
                False,
                now,
                now,
                None,
            )
        )
    return rows


LINK_COLUMNS = [
    "id",
    "slug",
    "url",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "title",
    "expires_at",
    "max_clicks",
    "redirect_status",
    "disabled",
    "created_at",
    "updated_at",
    "deleted_at",
]


def load(targets: list[Target], clicks: int, now: datetime, shape: Shape = Shape()) -> None:
    rng = random.Random(7)
    start = now - timedelta(days=shape.days)
    span = shape.days * 86400
    every_link = range(1, shape.links + 1)
    weights = [1 / (n**0.8) for n in every_link]  # a few posts go viral, most do not
    link_rows = links(now, shape)
    triples = {row[0]: row[3:6] for row in link_rows}  # an order keeps its link's
    for target in targets:
        target.make_partitions(start, now)
        target.copy("links", LINK_COLUMNS, link_rows)
        target.copy("link_tags", ["link_id", "tag"], [(n, f"tag-{n % 25}") for n in every_link])
    order_id = 0
    pool = ThreadPoolExecutor(len(targets))
    storing: list[Future[None]] = []
    for offset in range(0, clicks, CHUNK):
        count = min(CHUNK, clicks - offset)
        link_ids = rng.choices(every_link, weights=weights, k=count)
        rows, orders, refunds = [], [], []
        for n in range(count):
            at = start + timedelta(seconds=rng.random() * span)
            device, browser, os_name = DEVICES[n % len(DEVICES)]
            bot = rng.random() < 0.1
            click_id = secrets.token_urlsafe(16)
            rows.append(
                (
                    click_id,
                    link_ids[n],
                    at,
                    REFERRERS[n % 5],
                    None,
                    "Mozilla/5.0",
                    "bot" if bot else device,
                    browser,
                    os_name,
                    bot,
                    secrets.token_hex(16),
                    COUNTRIES[n % 6],
                    None,
                )
            )
            if not bot and rng.random() < 0.011:
                order_id += 1
                # Shops send whole seconds; clicks carry microseconds.
                placed = (at + timedelta(seconds=rng.randint(120, 36_000))).replace(microsecond=0)
                amount = rng.randint(900, 15000)
                refunded = rng.random() < 0.05  # one order in twenty, half of them in part
                orders.append(
                    (
                        order_id,
                        "shopify",
                        "bench.myshopify.com",
                        str(order_id),
                        amount,
                        "EUR",
                        "paid",
                        placed,
                        False,
                        None,
                        click_id,
                        None,
                        link_ids[n],
                        *triples[link_ids[n]],
                        click_id,
                        "click",
                        round((placed - at) / timedelta(milliseconds=1)),
                        refunded,
                        None,
                        placed,
                        placed,
                    )
                )
                if refunded:
                    refunds.append(
                        (
                            "shopify",
                            "bench.myshopify.com",
                            f"r{order_id}",
                            str(order_id),
                            amount if rng.random() < 0.5 else amount // 3,
                            "EUR",
                            placed + timedelta(days=rng.randint(1, 20)),
                        )
                    )
        # Each database stores this chunk in a thread of its own while the next one is made.
        for done in storing:
            done.result()
        tables = [
            ("clicks", CLICK_COLUMNS, rows),
            ("orders", ORDER_COLUMNS, orders),
            ("refunds", REFUND_COLUMNS, refunds),
        ]
        storing = [pool.submit(target.copy_all, tables) for target in targets]
        print(f"  made {offset + count:,} clicks", flush=True)
    for done in storing:
        done.result()
    pool.shutdown()
    spend = []
    for day in range(shape.days):
        for campaign in range(shape.campaigns):
            spend.append(
                (
                    f"campaign:campaign-{campaign}",
                    None,
                    f"campaign-{campaign}",
                    (start + timedelta(days=day)).date(),
                    5000 + 100 * campaign,
                    "EUR",
                    20000,
                    now,
                )
            )
    for target in targets:
        target.copy(
            "spend",
            [
                "target",
                "link_id",
                "utm_campaign",
                "day",
                "amount_minor",
                "currency",
                "impressions",
                "created_at",
            ],
            spend,
        )


async def rebuild_rollup(url: str) -> float:
    engine = create_engine(url)
    started = time.perf_counter()
    async with create_sessionmaker(engine)() as session, session.begin():
        await rebuild.rebuild(session, ZoneInfo("UTC"))
    # Statistics, and on PostgreSQL the visibility map that autovacuum keeps on a live
    # database (index-only scans need it): the state reports run in, not a fresh load's.
    statement = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    async with engine.connect() as connection:
        from sqlalchemy import text

        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text(statement))
    await engine.dispose()
    return time.perf_counter() - started


@asynccontextmanager
async def running_app(url: str, workdir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The real app on ``url``, started, with a client over ASGI and a fresh API key."""
    from tracker import auth

    settings = Settings(_env_file=None, database_url=url, spool_dir=workdir / "spool")  # type: ignore[call-arg]
    app = create_app(settings)
    async with app.lifespan():
        async with app.runtime.sessionmaker() as session, session.begin():
            _key, raw = await auth.create_key(session, "bench")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=600
        ) as http:
            yield http, raw


def ninety_day_questions(today: date) -> dict[str, str]:
    return {
        "utm_source, 30 days": "/api/stats?group_by=utm_source",
        "day, 1 campaign, 90 days": f"/api/stats?group_by=day&utm_campaign=campaign-3&from={today - timedelta(days=89)}&to={today}",
        "one link's stats": "/api/links/l00002/stats",
    }


async def time_reports(
    url: str, repeat: int, workdir: Path, questions: dict[str, str]
) -> dict[str, float]:
    medians = {}
    async with running_app(url, workdir) as (http, raw):
        http.headers["Authorization"] = f"Bearer {raw}"
        for name, path in questions.items():
            medians[name] = await median_ms(http, path, repeat)
    return medians


async def median_ms(http: httpx.AsyncClient, path: str, repeat: int) -> float:
    """The median time of ``repeat`` GETs of ``path``, after one that warms the caches."""
    response = await http.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await http.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(times) * 1000


def release(targets: list[Target], workdir: Path, *, keep: bool) -> None:
    """Drop the databases a bench loaded and its working directory, or print them to reuse."""
    for target in targets:
        if keep:
            print(f"  kept: {target.url}", flush=True)
        else:
            target.drop()
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)


def build(targets: list[Target], clicks: int, shape: Shape) -> None:
    """Load ``clicks`` into every target and build their rollups, saying how long each took."""
    started = time.perf_counter()
    print(f"{clicks:,} clicks over {shape.days} days: loading", flush=True)
    load(targets, clicks, datetime.now(UTC), shape)
    for target in targets:
        target.loaded()
    stored = ", ".join(f"{t.kind} {t.seconds:.0f} s" for t in targets)
    print(f"  loaded in {time.perf_counter() - started:.0f} s (storing: {stored})", flush=True)
    for target in targets:
        seconds = asyncio.run(rebuild_rollup(target.url))
        print(f"  {target.kind}: rollup built in {seconds:.1f} s", flush=True)


def timed_rounds(
    targets: dict[Any, Target], rounds: int, repeat: int, workdir: Path, questions: dict[str, str]
) -> dict[Any, dict[str, float]]:
    """Each question's median per target, taken as the median of ``rounds`` rounds.

    This machine's speed drifts within minutes: every target is timed in each
    round, so a slow spell falls on all of them.
    """
    found: dict[Any, list[dict[str, float]]] = {}
    for turn in range(rounds):
        for key, target in targets.items():
            medians = asyncio.run(time_reports(target.url, repeat, workdir, questions))
            found.setdefault(key, []).append(medians)
            figures = "  ".join(f"{ms:7.1f}" for ms in medians.values())
            print(f"  round {turn + 1}: {key}  {figures} ms", flush=True)
    return {
        key: {name: statistics.median(turn[name] for turn in turns) for name in questions}
        for key, turns in found.items()
    }


def yardstick_ms() -> float:
    """The median of five runs of a fixed piece of Python, like a page's own work."""
    numbers = random.Random(7).sample(range(10**9), 200_000)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        sorted(numbers)
        [f"{n / 100:.2f} EUR" for n in numbers]
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def year(args: argparse.Namespace, workdir: Path) -> None:
    """A year of data: every question's median beside its target, and how many were met."""
    if args.urls:
        targets = [Target.kept(url, workdir) for url in args.urls.split(",")]
    else:
        targets = [Target(kind, workdir) for kind in args.databases.split(",")]
    try:
        if not args.urls:
            build(targets, YEAR_CLICKS, YEAR)
        questions = year_questions(datetime.now(UTC).date())
        paths = {name: path for name, (path, _target) in questions.items()}
        before = yardstick_ms()
        results = timed_rounds(
            {t.kind: t for t in targets}, args.rounds, args.repeat, workdir, paths
        )
        after = yardstick_ms()
    finally:
        # Databases named by --urls belong to the run that kept them: only this run's
        # directory (its journal) goes.
        release([] if args.urls else targets, workdir, keep=args.keep)
    print()
    print(
        f"yardstick (fixed Python work; lower is a faster machine, {USUAL_YARDSTICK} on a usual"
        f" day): {before:.0f} ms before the questions, {after:.0f} ms after"
    )
    print(f"{'database':<10} {'question':<28} {'median':>10} {'target':>10}")
    met = 0
    for kind, medians in results.items():
        for name, (_path, target) in questions.items():
            allowed = target * (SQLITE_SLACK if kind == "sqlite" else 1)
            ok = medians[name] <= allowed
            met += ok
            mark = "met" if ok else f"missed by {medians[name] / allowed:.2f}x"
            print(f"{kind:<10} {name:<28} {medians[name]:>7.1f} ms {allowed:>7.0f} ms  {mark}")
    print(f"year: {met} of {len(results) * len(questions)} targets met")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--keep", action="store_true", help="keep the loaded databases and print their URLs"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="time every database this many times in turn, once all are loaded",
    )
    parser.add_argument("--year", action="store_true", help="a year of data, against targets")
    parser.add_argument("--urls", help="with --year: time databases kept by an earlier --keep")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tracker-reports-"))
    if args.year:
        year(args, workdir)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    kinds = args.databases.split(",")
    loaded: dict[tuple[str, int], Target] = {}
    try:
        for size in sizes:
            targets = [Target(kind, workdir) for kind in kinds]
            loaded.update({(target.kind, size): target for target in targets})
            build(targets, size, Shape())
        questions = ninety_day_questions(datetime.now(UTC).date())
        results = timed_rounds(loaded, args.rounds, args.repeat, workdir, questions)
    finally:
        release(list(loaded.values()), workdir, keep=args.keep)
    print()
    print(
        f"{'database':<10} {'question':<26} "
        + " ".join(f"{size:>12,}" for size in sizes)
        + "   growth"
    )
    for kind in kinds:
        for name in questions:
            values = [results[(kind, size)][name] for size in sizes]
            growth = values[-1] / values[0] if values[0] else float("nan")
            print(
                f"{kind:<10} {name:<26} "
                + " ".join(f"{v:>9.1f} ms" for v in values)
                + f"   {growth:5.2f}x"
            )


if __name__ == "__main__":
    main()
