"""Reads beside a redirect load: how long an API read takes while clicks are being written.

    python bench/busy_reads.py [--requests 60] [--connections 4,16]

`tracker serve` at its defaults on a fresh SQLite file, then on a throw-away
PostgreSQL database (TRACKER_BENCH_POSTGRES_URL's server), with 1,000 links.
A small report (`/api/stats?group_by=utm_source`) and a page of links
(`/api/links`) are asked one after the other, a tenth of a second apart: first
idle (the baseline of the same run), then while wrk sends redirects on each
number of connections. At the defaults the click writer holds the load's
clicks in the journal while it keeps the processors busy (up to a minute),
so the reads meet the redirects, not the writing of their clicks. Prints the
median, p90 and largest time of each, and the median's and p90's ratio to
idle. Needs `wrk`, as bench/redirect.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from redirect import (
    POSTGRES_ADMIN,
    _postgres,
    api_key,
    create_links,
    free_port,
    tracker_env,
    wait_until_up,
    wrk_script,
)

PATHS = ("/api/stats?group_by=utm_source", "/api/links")


def timed(base: str, key: str, requests: int) -> dict[str, list[float]]:
    """Milliseconds of each path, asked in turn ``requests`` times."""
    found: dict[str, list[float]] = {path: [] for path in PATHS}
    for _ in range(requests):
        for path in PATHS:
            request = urllib.request.Request(
                base + path, headers={"Authorization": f"Bearer {key}"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            found[path].append((time.perf_counter() - started) * 1000)
        time.sleep(0.1)
    return found


def figures(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9)], ordered[-1]


def bench(label: str, database_url: str, args: argparse.Namespace, workdir: Path) -> None:
    workdir = workdir / label
    workdir.mkdir()
    env = tracker_env(database_url, workdir)
    key = api_key(env)
    port = free_port()
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tracker", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until_up(port)
        base = f"http://127.0.0.1:{port}"
        script = wrk_script(workdir, create_links(base, key, 1000, None))
        timed(base, key, 5)  # warm
        idle = timed(base, key, args.requests)
        runs = {"idle": idle}
        for connections in args.connections:
            load = subprocess.Popen(
                ["wrk", "-t1", f"-c{connections}", "-d600s", "-s", str(script), base],
                stdout=subprocess.DEVNULL,
            )
            try:
                time.sleep(3)
                runs[f"load, {connections} connections"] = timed(base, key, args.requests)
            finally:
                load.terminate()
                load.wait()
            time.sleep(5)  # the writer catches up before the next run
        for path in PATHS:
            base_median, base_p90, _ = figures(idle[path])
            for name, times in runs.items():
                median, p90, most = figures(times[path])
                print(
                    f"{label:<10} {path:<31} {name:<22} median {median:6.1f} ms "
                    f"({median / base_median:4.2f}x)  p90 {p90:6.1f} ms ({p90 / base_p90:4.2f}x)"
                    f"  max {most:6.1f} ms",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(120)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument(
        "--connections", type=lambda text: [int(n) for n in text.split(",")], default=[4, 16]
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as workdir:
        bench("SQLite", f"sqlite+aiosqlite:///{workdir}/bench.db", args, Path(workdir))
        name = f"tracker_bench_{uuid.uuid4().hex[:8]}"
        try:
            asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
            url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            bench(
                "PostgreSQL",
                url.replace("postgresql://", "postgresql+asyncpg://"),
                args,
                Path(workdir),
            )
        finally:
            asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
