"""`tracker serve`'s process, without the command line around it.

`tracker serve` checks the settings, then becomes `python -m tracker.server.host`
(exec: the same process id, so signals and supervisors see no difference). The
server then carries none of the other commands' modules (typer, rich, the demo,
the command line's own: 4 MB for as long as it runs).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading

import uvicorn
from pydantic import ValidationError

from tracker.config import Settings, get_settings, invalid_setting
from tracker.db import migrate
from tracker.server.writer_host import WriterProcess

MIGRATE_RETRY_SECONDS = 5.0
log = logging.getLogger("tracker.server.host")  # run as __main__ by `python -m`


def exec_serve(host: str, port: int, workers: int) -> None:
    """Replace this process (the `tracker` command) with the server."""
    command = [sys.executable, "-m", __name__, host, str(port), str(workers)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Migrate the schema to head, then serve; see `tracker serve`."""
    migrating = _migrate_when_reachable(settings.database_url)  # before any worker starts
    received: list[int] = []
    with contextlib.ExitStack() as removed_at_exit:
        if workers > 1:
            # prometheus-client's own switch: every worker writes its figures in there.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = removed_at_exit.enter_context(
                tempfile.TemporaryDirectory(prefix="tracker-metrics-")
            )
        if settings.click_writer == "thread":
            _serve(settings, host, port, workers)
            return
        click_writer = WriterProcess(settings)
        click_writer.start()
        # uvicorn re-raises the signal that stopped it, once it has shut down: noted here
        # instead, so that the writer is stopped (and drains what the workers sealed) first.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda number, _frame: received.append(number))
        try:
            _serve(settings, host, port, workers)
        finally:
            click_writer.stop()
    migrating.set()
    if received:
        signal.signal(received[0], signal.SIG_DFL)
        signal.raise_signal(received[0])


def _migrate_when_reachable(database_url: str) -> threading.Event:
    """Migrate now; if the database does not answer, say so in one line and keep trying on a
    thread until it does (or until the returned event is set, at exit)."""
    done = threading.Event()
    try:
        migrate.upgrade_apart(database_url)
        return done
    except migrate.Unreachable as exc:
        log.error("database unreachable at start (%s); serving, migrating once it answers", exc)

    def retry() -> None:
        while not done.wait(MIGRATE_RETRY_SECONDS):
            try:
                migrate.upgrade_apart(database_url)
            except migrate.Unreachable:
                continue
            log.warning("database reachable again: schema migrated to head")
            return

    threading.Thread(target=retry, name="migrate", daemon=True).start()
    return done


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    uvicorn.run(
        "tracker.main:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,  # TRACKER_TRUSTED_PROXIES decides whom to believe
        server_header=False,
        access_log=False,
        log_level=settings.log_level.lower(),
        log_config=None,  # tracker.logs configures logging in each worker
        timeout_graceful_shutdown=30,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tracker.server.host")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("workers", type=int)
    args = parser.parse_args()
    try:
        settings = get_settings()
    except ValidationError as exc:  # checked by `tracker serve`; .env changed since?
        print(invalid_setting(exc), file=sys.stderr)
        sys.exit(2)
    serve(settings, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
