"""Dashboard page times on the report bench's data (default 10M clicks), SQLite and PostgreSQL.

    python bench/dashboard.py [--clicks 10000000] [--repeat 7] [--databases sqlite,postgresql]
                              [--keep | --urls URL,URL]

Loads the same shop as bench/reports.py (2,000 links, 90 days, 1 % of clicks
followed by an order), signs in through the sign-in form and times every page
through the real app (the median of --repeat after one warm-up; server time,
no network), against the 300 ms target, at the default settings.

The target is in milliseconds, and these machines' speed drifts by half in a
day, so it also times a fixed piece of Python (sorting and formatting 200,000
numbers) before and after the pages: the yardstick that says how fast the
machine was while it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import reports as report_bench

TARGET_MS = 300.0
PAGES = {
    "overview, 30 days": "/dashboard",
    "overview, 90 days": "/dashboard?period=90d",
    "links, by net revenue": "/dashboard/links?sort=net",
    "links, one campaign": "/dashboard/links?campaign=campaign-3",
    "one link": "/dashboard/links/l00002",
    "mint form": "/dashboard/mint",
    "orders": "/dashboard/orders",
    "spend": "/dashboard/spend",
}


async def time_pages(url: str, repeat: int, workdir: Path) -> dict[str, float]:
    medians = {}
    async with report_bench.running_app(url, workdir) as (http, raw):
        form = await http.get("/dashboard/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = await http.post("/dashboard/sign-in", data={"csrf": csrf.group(1), "key": raw})
        assert signed.status_code == 303, signed.text
        for name, path in PAGES.items():
            medians[name] = await report_bench.median_ms(http, path, repeat)
    return medians


def measure(
    urls: dict[str, str], repeat: int, workdir: Path
) -> tuple[dict[str, dict[str, float]], tuple[float, float]]:
    """Every page on every database, between two measures of the yardstick."""
    before = report_bench.yardstick_ms()
    results = {kind: asyncio.run(time_pages(url, repeat, workdir)) for kind, url in urls.items()}
    return results, (before, report_bench.yardstick_ms())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the databases, print URLs")
    parser.add_argument("--urls", help="time databases kept by an earlier --keep instead")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tracker-dashboard-"))
    if args.urls:
        urls = {
            ("sqlite" if u.startswith("sqlite") else "postgresql"): u for u in args.urls.split(",")
        }
        _print(*measure(urls, args.repeat, workdir))
        return
    targets = [report_bench.Target(kind, workdir) for kind in args.databases.split(",")]
    try:
        report_bench.build(targets, args.clicks, report_bench.Shape())
        measured = measure({t.kind: t.url for t in targets}, args.repeat, workdir)
    finally:
        report_bench.release(targets, workdir, keep=args.keep)
    _print(*measured)


def _print(results: dict[str, dict[str, float]], yardstick: tuple[float, float]) -> None:
    kinds = list(results)
    print()
    print(
        f"yardstick (fixed Python work; lower is a faster machine): {yardstick[0]:.0f} ms before"
        f" the pages, {yardstick[1]:.0f} ms after"
    )
    print(
        f"{'page':<24}" + "".join(f"{kind:>14}" for kind in kinds) + f"   target {TARGET_MS:.0f} ms"
    )
    met = total = 0
    for name in PAGES:
        cells = []
        for kind in kinds:
            value = results[kind][name]
            total += 1
            met += value <= TARGET_MS
            cells.append(f"{value:>11.1f} ms")
        print(f"{name:<24}" + "".join(cells))
    print(f"dashboard: {met} of {total} page times within {TARGET_MS:.0f} ms")


if __name__ == "__main__":
    main()
