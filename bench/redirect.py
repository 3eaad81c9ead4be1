"""Redirect throughput: tracker (click logging on) against a bare ASGI 302, in one run.

    python bench/redirect.py [--duration 10] [--connections 64] [--links 1000]
                             [--max-clicks N]

`--max-clicks` gives every link a limit of N human clicks, which the redirect
then reserves in the database (redirect/allowance.py) and judges each visitor
for: the cost of a limit, beside the default run of links without one.

Each engine runs at the defaults, where the writer holds a burst's clicks in
the journal while the processors are busy (clicks/headroom.py), and then,
labelled "written as they come", with TRACKER_CLICK_HOLD_SECONDS=0: what it
does once a load lasts longer than the hold, beside the default run's burst.

Needs `wrk` (apt-get install wrk) and, for the PostgreSQL half, the server of
TRACKER_BENCH_POSTGRES_URL (default: this machine's). Prints req/s, p50 and
p99 of each, the ratio to the ceiling, the peak RSS of `tracker serve` and of
its click writer process, the CPU per request of each process (PostgreSQL's
own included), how many clicks were in the database when the load
stopped and how long the writer took to catch up, and checks that every
answered redirect was written as a click. Each tracker run is measured after a
warm-up that lasts until the tracker holds every link in memory: the first
click on a link waits for the database, and those lookups (how many, and their
mean) are printed beside the run instead of counted in its p99.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
POSTGRES_ADMIN = os.environ.get(
    "TRACKER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
UVICORN_FLAGS = [
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 312.0.0.34.111",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/442.0.0.33.110;]",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
]  # fmt: skip


@dataclass
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    bad: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(port: int) -> None:
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def wrk_script(directory: Path, slugs: list[str]) -> Path:
    """A Lua script that spreads the load over every link and a mix of user agents."""
    path = directory / "mix.lua"
    paths = ", ".join(f'"/{slug}"' for slug in slugs)
    agents = ", ".join(json.dumps(agent) for agent in USER_AGENTS)
    path.write_text(
        f"""
local paths = {{{paths}}}
local agents = {{{agents}}}
local n = 0
request = function()
  n = n + 1
  local headers = {{}}
  headers["User-Agent"] = agents[(n % #agents) + 1]
  headers["Accept-Language"] = "en-GB,en;q=0.9"
  headers["Referer"] = "https://l.instagram.com/"
  return wrk.format("GET", paths[math.random(#paths)] .. "?utm_content=bench", headers)
end
"""
    )
    return path


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise SystemExit(f"cannot read wrk's latency {text!r}")
    number, unit = found.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, duration: int, connections: int) -> Load:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "requests in" not in output or "99%" not in output:
        raise SystemExit(f"wrk said:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(bad.group(1)) if bad else 0
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    return Load(requests, rps, p50, p99, failed)


def link_lookups(base: str) -> tuple[int, float]:
    """`tracker_link_lookup_seconds`: how many slugs the tracker looked up, and in what time."""
    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    count = re.search(r"^tracker_link_lookup_seconds_count ([\d.e+]+)$", text, re.MULTILINE)
    total = re.search(r"^tracker_link_lookup_seconds_sum ([\d.e+]+)$", text, re.MULTILINE)
    if count is None or total is None:
        raise SystemExit("no tracker_link_lookup_seconds in /metrics")
    return int(float(count.group(1))), float(total.group(1))


def warm_up(
    base: str, script: Path, connections: int, tracker: bool
) -> tuple[Load, int, tuple[int, float]]:
    """Three seconds of the load, then more, a second at a time, until the tracker looked up
    no slug during the last one: the first click on each link waits for the database, and on a
    slow day 1,000 of them took six seconds, which the measured run then counted in its p99.
    Returns the warm-up's load (its requests are clicks too), its seconds, and the lookups
    (how many, mean ms)."""
    warm = run_wrk(base, script, 3, connections)
    seconds = 3
    if not tracker:
        return warm, seconds, (0, 0.0)
    before = link_lookups(base)
    while seconds < 60:
        more = run_wrk(base, script, 1, connections)
        warm = Load(warm.requests + more.requests, warm.rps, warm.p50_ms, warm.p99_ms,
                    warm.bad + more.bad)  # fmt: skip
        seconds += 1
        after = link_lookups(base)
        if after[0] == before[0]:
            break
        before = after
    count, total = before
    return warm, seconds, (count, total / count * 1000 if count else 0.0)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (the click writer, under `tracker serve`)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
    return found


def _cpu(stat: str) -> float:
    """User and system CPU seconds from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    return sum(_cpu(Path(f"/proc/{pid}/stat").read_text()) for pid in pids)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL server process (its backends and helpers)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended meanwhile
        if text.split("(", 1)[1].rsplit(")", 1)[0] == "postgres":
            found[int(stat.parent.name)] = _cpu(text)
    return found


@dataclass
class Run:
    warm: Load
    load: Load
    warm_seconds: int  # the warm-up lasted until every link was in the tracker's memory
    lookups: int  # database lookups of slugs not yet in memory, all in the warm-up
    lookup_ms: float  # their mean
    rss_serve: float
    rss_writer: float  # 0 without a writer process
    written_at_end: int | None  # clicks in the database the moment the load stopped
    catch_up: float | None  # seconds after the load until every click was in the database
    cpu_serve_us: float  # CPU per answered request, µs: the serving process
    cpu_writer_us: float  # and the writer process, until it caught up
    cpu_postgres_us: float  # and PostgreSQL's processes meanwhile (idle ones: about 0)


def measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    args: argparse.Namespace,
    script: Path,
    setup=None,
    count=None,
) -> Run:  # type: ignore[no-untyped-def]
    # Nobody reads its log: a pipe would fill up and stop the server mid-setup.
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(port)
        if setup is not None:
            setup(base)
        warm, warm_seconds, lookups = warm_up(base, script, args.connections, setup is not None)
        writers = children(server.pid)
        cpu_before = cpu_seconds([server.pid]), cpu_seconds(writers), postgres_cpu()
        load = run_wrk(base, script, args.duration, args.connections)
        cpu_serve = cpu_seconds([server.pid]) - cpu_before[0]
        ended = time.monotonic()
        written_at_end = catch_up = None
        if count is not None:
            # Written while serving, or still in the journal? Then: how long until all are in.
            written_at_end = count()
            answered = warm.requests + load.requests
            while count() < answered and time.monotonic() - ended < 600:
                time.sleep(0.2)
            catch_up = time.monotonic() - ended
        cpu_writer = cpu_seconds(writers) - cpu_before[1]
        # Backends that ended meanwhile are left out; the tracker's pool keeps its own.
        cpu_postgres = sum(cpu - cpu_before[2].get(pid, 0) for pid, cpu in postgres_cpu().items())
        rss = peak_rss_mb(server.pid)
        rss_writer = sum(peak_rss_mb(child) for child in writers)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=600)
    print(
        f"{name:<42} {load.rps:>10.0f} req/s  p50 {load.p50_ms:7.2f} ms  p99 {load.p99_ms:7.2f} ms  non-3xx/errors {load.bad}  peak RSS {rss:6.1f} MB (+ writer {rss_writer:.1f} MB)"
        f"  CPU per request {cpu_serve * 1e6 / load.requests:.1f} µs (+ writer {cpu_writer * 1e6 / load.requests:.1f} µs"
        f", + PostgreSQL {cpu_postgres * 1e6 / load.requests:.1f} µs)",
        flush=True,
    )
    per_request = 1e6 / load.requests
    return Run(
        warm, load, warm_seconds, *lookups, rss, rss_writer, written_at_end, catch_up,
        cpu_serve * per_request, cpu_writer * per_request, cpu_postgres * per_request,
    )  # fmt: skip


def create_links(base: str, key: str, count: int, max_clicks: int | None) -> list[str]:
    slugs = [f"b{n:05d}" for n in range(count)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for start in range(0, count, 100):
        variants = [
            {"utm_source": f"source{n % 7}", "utm_medium": "social", "slug": slug}
            for n, slug in enumerate(slugs[start : start + 100])
        ]
        body = json.dumps(
            {
                "url": "https://shop.example.com/products/mug?color=red",
                "utm_campaign": "bench",
                "variants": variants,
            }
        ).encode()
        request = urllib.request.Request(
            base + "/api/links/bulk", data=body, method="POST", headers=headers
        )
        urllib.request.urlopen(request, timeout=30)
    for slug in slugs if max_clicks is not None else []:
        limit = json.dumps({"max_clicks": max_clicks}).encode()
        request = urllib.request.Request(
            f"{base}/api/links/{slug}", data=limit, method="PATCH", headers=headers
        )
        urllib.request.urlopen(request, timeout=30)
    return slugs


def tracker_env(database_url: str, workdir: Path, **settings: str) -> dict[str, str]:
    """The defaults, but for the database, the journal and the ``settings`` of a labelled run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        TRACKER_DATABASE_URL=database_url,
        TRACKER_SPOOL_DIR=str(workdir / "spool"),
    )
    env.update({f"TRACKER_{name.upper()}": value for name, value in settings.items()})
    return env


def api_key(env: dict[str, str]) -> str:
    """An admin key for the bench's calls, from `tracker keys create` (its last line)."""
    return subprocess.run(
        [sys.executable, "-m", "tracker", "keys", "create", "--name", "bench"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.splitlines()[-1]  # fmt: skip


def count_clicks(database_url: str) -> int:
    async def count() -> int:
        from tracker.db.engine import create_engine

        engine = create_engine(database_url)
        async with engine.connect() as connection:
            from sqlalchemy import text

            value = (await connection.execute(text("SELECT COUNT(*) FROM clicks"))).scalar_one()
        await engine.dispose()
        return int(value)

    return asyncio.run(count())


def bench_tracker(
    label: str,
    database_url: str,
    args: argparse.Namespace,
    workdir: Path,
    slugs: list[str],
    script: Path,
    settings: dict[str, str],
) -> tuple[Run, int, int]:
    env = tracker_env(database_url, workdir, **settings)
    key = api_key(env)
    port = free_port()
    command = [sys.executable, "-m", "tracker", "serve", "--port", str(port)]
    run = measure(
        label,
        command,
        env,
        port,
        args,
        script,
        setup=lambda base: create_links(base, key, args.links, args.max_clicks),
        count=lambda: count_clicks(database_url),
    )
    answered = run.warm.requests + run.load.requests
    written = count_clicks(database_url)
    return run, answered, written


async def _postgres(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--max-clicks", type=int, default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as workdir:
        compare(args, Path(workdir))


# Each engine at the defaults, then with the setting of a labelled figure (module docstring).
RUNS = [
    ("SQLite", {}),
    ("PostgreSQL", {}),
    ("SQLite, written as they come", {"click_hold_seconds": "0"}),
    ("PostgreSQL, written as they come", {"click_hold_seconds": "0"}),
]


def compare(args: argparse.Namespace, workdir: Path) -> None:
    """The ceiling, then each of RUNS followed by the ceiling again; then the table."""
    slugs = [f"b{n:05d}" for n in range(args.links)]
    script = wrk_script(workdir, slugs)
    print(
        f"{os.cpu_count()} cores; wrk -t2 -c{args.connections} -d{args.duration}s over {args.links} links, {len(USER_AGENTS)} user agents"
        + (f"; every link limited to {args.max_clicks} human clicks" if args.max_clicks else ""),
        flush=True,
    )

    port = free_port()
    bare = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--app-dir",
        str(HERE),
        "--port",
        str(port),
        *UVICORN_FLAGS,
    ]
    # This machine's speed drifts by a third within minutes: the ceiling is measured before
    # and after each tracker run, and each ratio is taken against the mean of its neighbours.
    ceilings = [measure("bare ASGI 302", bare, dict(os.environ), port, args, script)]

    results = {}
    for label, settings in RUNS:
        name = f"tracker_bench_{uuid.uuid4().hex[:8]}"  # a fresh database for each run
        if label.startswith("SQLite"):
            results[label] = bench_tracker(
                f"tracker, {label}", f"sqlite+aiosqlite:///{workdir / name}.db", args, workdir,
                slugs, script, settings,
            )  # fmt: skip
        else:
            try:
                asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
                pg_url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
                results[label] = bench_tracker(
                    f"tracker, {label}", pg_url.replace("postgresql://", "postgresql+asyncpg://"),
                    args, workdir, slugs, script, settings,
                )  # fmt: skip
            finally:
                asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        ceilings.append(measure("bare ASGI 302", bare, dict(os.environ), port, args, script))

    print()
    print("written as they come: TRACKER_CLICK_HOLD_SECONDS=0, as once a load outlasts the hold")
    print(
        f"{'':<12} {'req/s':>9} {'ratio':>6} {'p99 ms':>8} {'p99/ceiling':>11} {'RSS MB':>7} {'+writer':>8} {'answered':>9} {'clicks':>9}"
    )
    for database, (run, answered, written), before, after in zip(
        results, results.values(), ceilings, ceilings[1:], strict=False
    ):
        rps = (before.load.rps + after.load.rps) / 2
        p99 = (before.load.p99_ms + after.load.p99_ms) / 2
        print(
            f"{'ceiling':<12} {rps:>9.0f} {1:>6.2f} {p99:>8.2f} {1:>11.2f} {before.rss_serve:>7.1f} {'':>8} {'':>9} {'':>9}"
            f"  (mean of {before.load.rps:.0f} before and {after.load.rps:.0f} after)"
        )
        load = run.load
        if len(database) > 12:  # a labelled run: its name on a line of its own
            print(database)
            database = ""
        print(
            f"{database:<12} {load.rps:>9.0f} {load.rps / rps:>6.2f} {load.p99_ms:>8.2f} "
            f"{load.p99_ms / p99:>11.2f} {run.rss_serve:>7.1f} {run.rss_writer:>8.1f} {answered:>9} {written:>9}"
        )
        # wrk counts completed requests; those in flight when it stops were answered (and
        # logged) too, at most one per connection and run (the warm-up's, then the load's).
        in_flight = written - answered
        runs = run.warm_seconds - 3 + 1 + 1
        verdict = "ok" if 0 <= in_flight <= runs * args.connections else "MISMATCH"
        print(
            f"  warm-up {run.warm_seconds} s, until every link was in memory: {run.lookups} "
            f"database lookups of a slug, {run.lookup_ms:.1f} ms on average"
        )
        print(
            f"  clicks written - requests counted by wrk = {in_flight} ({verdict}); non-3xx/errors: {load.bad}"
        )
        assert run.written_at_end is not None and run.catch_up is not None
        print(
            f"  in the database when the load stopped: {run.written_at_end} of {answered} "
            f"({run.written_at_end / answered:.0%}), the rest in the journal; all in {run.catch_up:.1f} s later"
        )


if __name__ == "__main__":
    main()
