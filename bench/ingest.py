"""Click ingestion: how many clicks a second click writers put into PostgreSQL, and at what
cost to the database.

    python bench/ingest.py [--clicks 300000] [--links 1000]

The clicks are journaled first, as `tracker serve` journals them (the
ClickJournal, click ids from the redirect's generator, the bench's user agents,
one visitor in three returning), into a staging directory. Then each run
starts `tracker write-clicks` processes at the defaults, each on its own
journal directory, as the writers of separate hosts would be, hands them the
journal files at once and times them until the last one is written. Runs:
one writer with every click, then two writers with half each, on a fresh
PostgreSQL database each; one writer on SQLite for comparison. The first
run is the baseline of the ratios. Prints clicks a second, the writers' and
PostgreSQL's CPU per click (every `postgres` process of the machine, so
keep it otherwise idle), and checks that every click was written once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from redirect import POSTGRES_ADMIN, USER_AGENTS, _postgres, cpu_seconds, postgres_cpu
from sqlalchemy import func, insert, select

from tracker.clicks import journal
from tracker.clicks.figures import writer_running
from tracker.clicks.journal import ClickJournal
from tracker.clicks.record import ClickRecord
from tracker.db import migrate
from tracker.db.engine import create_engine, create_sessionmaker
from tracker.models import Click, Link
from tracker.redirect.handler import ClickIds

REFERRERS = ["https://l.instagram.com/", "https://t.co/", None, "https://www.facebook.com/"]


@dataclass
class Run:
    label: str
    writers: int
    clicks: int
    seconds: float
    writer_cpu_us: float  # per click, all writers together
    postgres_cpu_us: float | None  # per click, PostgreSQL's processes

    @property
    def rate(self) -> float:
        return self.clicks / self.seconds


async def _stage(directory: Path, clicks: int, link_ids: list[int]) -> None:
    """``clicks`` journaled into ``directory``, as the redirect journals them."""
    ids = ClickIds()
    visitors = [os.urandom(16).hex() for _ in range(clicks // 3)]
    staged = ClickJournal(directory, seal_after=3600)
    await staged.open()
    for n in range(clicks):
        now = time.time_ns()
        visitor = random.choice(visitors) if n % 3 else os.urandom(16).hex()
        staged.append(
            ClickRecord(
                ids.new(now), random.choice(link_ids), now // 1000, USER_AGENTS[n % len(USER_AGENTS)],
                REFERRERS[n % len(REFERRERS)], visitor, "DE" if n % 2 else None,
                (("utm_content", "reel"),) if n % 5 == 0 else None, None, None,
            )
        )  # fmt: skip
        if n % 1000 == 999:
            await asyncio.sleep(0)  # the journal writes the turn's records
    await staged.close()


async def _prepare(database_url: str, links: int) -> list[int]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await session.execute(
                insert(Link),
                [
                    {"slug": f"i{n:05d}", "url": "https://shop.example.com/",
                     "utm_source": f"source{n % 7}", "utm_campaign": "bench"}
                    for n in range(links)
                ],
            )  # fmt: skip
            return list((await session.scalars(select(Link.id))).all())
    finally:
        await engine.dispose()


async def _count(database_url: str) -> tuple[int, int]:
    """Clicks, and distinct click ids."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            row = (
                await session.execute(select(func.count(), func.count(Click.id.distinct())))
            ).one()
            return int(row[0]), int(row[1])
    finally:
        await engine.dispose()


def _run(label: str, database_url: str, staged: list[Path], workdir: Path) -> Run:
    spools = [workdir / f"spool-{n}" for n in range(len(staged))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    writers = []
    for spool in spools:
        spool.mkdir()
        writers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tracker", "write-clicks"],
                env={**env, "TRACKER_DATABASE_URL": database_url, "TRACKER_SPOOL_DIR": str(spool)},
            )
        )
    try:
        while not all(writer_running(spool) for spool in spools):
            time.sleep(0.05)
        total = 0
        for source, spool in zip(staged, spools, strict=True):
            for path in sorted(source.glob(journal.SEALED_PATTERN)):
                total += journal.sealed_count(path)
                shutil.copy(path, spool / f".{path.name}")
        # Handed over at once: each file appears under the name the writer looks for. The
        # writers find them at their next pass, a quarter of a second at most.
        cpu_writers = cpu_seconds([writer.pid for writer in writers])
        cpu_postgres = postgres_cpu()
        started = time.perf_counter()
        for spool in spools:
            for path in spool.glob(".clicks-*"):
                path.rename(spool / path.name[1:])
        while sum(journal.waiting(spool) for spool in spools):
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        cpu_writers = cpu_seconds([writer.pid for writer in writers]) - cpu_writers
        after = postgres_cpu()
        postgres = None
        if "postgresql" in database_url:
            postgres = sum(cpu - cpu_postgres.get(pid, 0.0) for pid, cpu in after.items())
    finally:
        for writer in writers:
            writer.send_signal(signal.SIGTERM)
        for writer in writers:
            writer.wait(timeout=120)
    written, distinct = asyncio.run(_count(database_url))
    assert written == distinct == total, (
        f"{label}: {written} written, {distinct} distinct, {total} journaled"
    )
    return Run(
        label, len(staged), total, seconds, cpu_writers / total * 1e6,
        None if postgres is None else postgres / total * 1e6,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=300_000)
    parser.add_argument("--links", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-ingest-") as directory:
        workdir = Path(directory)
        runs = []
        for label, writers, engine in (
            ("PostgreSQL, one writer", 1, "postgresql"),
            ("PostgreSQL, two writers", 2, "postgresql"),
            ("SQLite, one writer", 1, "sqlite"),
        ):
            run_dir = workdir / f"{engine}-{writers}"
            run_dir.mkdir()
            name = f"tracker_ingest_{uuid.uuid4().hex[:8]}"
            if engine == "postgresql":
                asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
                url = POSTGRES_ADMIN.rsplit("/", 1)[0].replace(
                    "postgresql://", "postgresql+asyncpg://"
                )
                url += f"/{name}"
            else:
                url = f"sqlite+aiosqlite:///{run_dir / 'ingest.db'}"
            try:
                link_ids = asyncio.run(_prepare(url, args.links))
                staged = [run_dir / f"staged-{n}" for n in range(writers)]
                for part in staged:
                    asyncio.run(_stage(part, args.clicks // writers, link_ids))
                runs.append(_run(label, url, staged, run_dir))
                print(f"{label}: {runs[-1].rate:,.0f} clicks/s", flush=True)
            finally:
                if engine == "postgresql":
                    asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    baseline = runs[0].rate
    print(f"\n{os.cpu_count()} cores; {args.clicks:,} clicks over {args.links:,} links per run; "
          "writers at the defaults")  # fmt: skip
    print(
        f"{'':<26} {'clicks/s':>9} {'ratio':>6} {'clicks':>8} {'writer µs/click':>16} {'PostgreSQL µs/click':>20}"
    )
    for run in runs:
        postgres = "" if run.postgres_cpu_us is None else f"{run.postgres_cpu_us:.1f}"
        print(
            f"{run.label:<26} {run.rate:>9,.0f} {run.rate / baseline:>6.2f} {run.clicks:>8,} "
            f"{run.writer_cpu_us:>16.1f} {postgres:>20}"
        )


if __name__ == "__main__":
    main()
