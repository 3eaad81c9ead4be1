"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from tracker.clicks import figures
from tracker.redirect.cache import LOOKUP_ERRORS
from tracker.runtime import Runtime

router = APIRouter(tags=["operations"])

READY_TIMEOUT = 1.0


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
    runtime: Runtime = request.app.state.runtime
    problems = []
    try:
        async with asyncio.timeout(READY_TIMEOUT), runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except LOOKUP_ERRORS:
        problems.append("database unreachable")
    if not figures.writer_running(runtime.settings.spool_dir):
        problems.append("click writer not running")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, 503)
    return JSONResponse({"status": "ok", "clicks_queued": runtime.journal.queued})
