"""What operators and orchestrators ask a process: `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text

from tracker import metrics as tracker_metrics
from tracker.clicks import figures
from tracker.db.engine import DATABASE_ERRORS
from tracker.server.runtime import Runtime

router = APIRouter(tags=["operations"])

READY_TIMEOUT = 1.0


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; the body says why"}})
async def readyz(request: Request) -> JSONResponse:
    """The database answers within a second and a click writer is at work.

    Clicks waiting in the journal do not make the process unready: they are on
    disk, and a burst is exactly when the redirects must keep being answered.
    """
    runtime = _runtime(request)
    problems = []
    try:
        async with asyncio.timeout(READY_TIMEOUT), runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except DATABASE_ERRORS:
        problems.append("database unreachable")
    if not figures.writer_running(runtime.settings.spool_dir):
        problems.append("click writer not running")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, 503)
    return JSONResponse({"status": "ok", "clicks_queued": runtime.journal.queued})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    tracker_metrics.REDIRECT_COUNTS.flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    runtime = _runtime(request)
    writer = CollectorRegistry(auto_describe=False)
    writer.register(figures.WriterCollector(runtime.settings.spool_dir, runtime.journal.queued))
    body = generate_latest(registry) + generate_latest(writer)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
