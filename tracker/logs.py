"""Logging: one JSON object per line for machines, plain lines in a terminal.

The access log carries the method, the route template, the status and the
latency; never the client's address, the query string or a header.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

ACCESS = logging.getLogger("tracker.access")


def configure(level: str, as_json: bool | None = None) -> None:
    """Route every logger (uvicorn's included) through one handler on stderr."""
    as_json = not sys.stderr.isatty() if as_json is None else as_json
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # uvicorn's access log names client addresses; ours does not. With no handler on its
    # way up, uvicorn does not even format its line (it checks hasHandlers() per connection).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True


def access(method: str, route: str, status: int, seconds: float) -> None:
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info(
            "%s %s %d",
            method,
            route,
            status,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "ms": round(seconds * 1000, 3),
            },
        )
