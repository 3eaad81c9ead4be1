"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

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
    """The database answers within a second, the click writer runs and keeps up."""
    runtime: Runtime = request.app.state.runtime
    problems = []
    try:
        async with asyncio.timeout(READY_TIMEOUT), runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except LOOKUP_ERRORS:
        problems.append("database unreachable")
    if not runtime.click_writer.running:
        problems.append("click writer stopped")
    if runtime.click_writer.queued >= runtime.settings.click_memory_limit:
        problems.append("click queue over its high-water mark")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, 503)
    return JSONResponse({"status": "ok", "clicks_queued": runtime.click_writer.queued})
