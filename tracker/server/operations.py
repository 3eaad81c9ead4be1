"""What operators and orchestrators ask a process: `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tracker import metrics as tracker_metrics
from tracker.clicks import figures as writer_figures
from tracker.db.engine import DATABASE_ERRORS, ping
from tracker.server.runtime import Runtime

router = APIRouter(tags=["operations"])


class _WriterFigures(Collector):
    """The writer's published figures and the journal's backlog, as Prometheus metrics."""

    def __init__(self, directory: Path, queued: int) -> None:
        self._directory = directory
        self._queued = queued

    def collect(self) -> Iterator[Metric]:
        figures = writer_figures.read(self._directory) or {}
        yield CounterMetricFamily(
            "tracker_clicks_written",
            "Clicks inserted into the database",
            value=figures.get("clicks_written", 0),
        )
        bounds = (*map(str, writer_figures.BATCH_BUCKETS), "+Inf")
        counts = figures.get("batch_buckets", [0] * len(bounds))
        cumulative, buckets = 0, []
        for bound, count in zip(bounds, counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "tracker_click_batch_seconds",
            "Time to write one batch of clicks",
            buckets=buckets,
            sum_value=figures.get("batch_seconds", 0.0),
        )
        yield CounterMetricFamily(
            "tracker_late_attributions",
            "Orders credited to their click by the click writer, the click written after them",
            value=figures.get("late_attributions", 0),
        )
        yield CounterMetricFamily(
            "tracker_click_writer_held_seconds",
            "Time the click writer held clicks back while the processors were busy",
            value=figures.get("held_seconds", 0.0),
        )
        yield GaugeMetricFamily(
            "tracker_clicks_queued",
            "Clicks answered but not yet in the database (in the journal)",
            value=self._queued,
        )


class _DatabaseUp(Collector):
    """tracker_database_up: 1 if the database answered this scrape within READY_TIMEOUT."""

    def __init__(self, up: bool) -> None:
        self._up = up

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tracker_database_up", "Whether the database answered the scrape", value=int(self._up)
        )


READY_TIMEOUT = 1.0


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


async def _database_answers(runtime: Runtime) -> bool:
    try:
        await ping(runtime.engine, READY_TIMEOUT)
    except DATABASE_ERRORS:
        return False
    return True


@router.get("/readyz", responses={503: {"description": "redirects cannot be served; why"}})
async def readyz(request: Request) -> JSONResponse:
    """Whether this process can serve redirects; the database's and the writer's state beside.

    A database outage does not make a redirector unready while it holds the
    links it serves (clicks wait in the journal); neither do clicks waiting
    there, nor a click writer that stopped reporting: taking the process out
    of rotation would lose the very clicks the journal keeps.
    """
    runtime = _runtime(request)
    database = await _database_answers(runtime)
    writer = writer_figures.writer_running(runtime.settings.spool_dir)
    body = {
        "status": "ok",
        "database": "ok" if database else "unreachable",
        "click_writer": "running" if writer else "not running",
        "clicks_queued": runtime.journal.queued,
        "link_changes": runtime.link_changes.state,
    }
    if not database and not runtime.link_cache.holds_links:
        body["status"] = "unavailable"
        return JSONResponse(body, 503)
    return JSONResponse(body)


@router.get(
    "/readyz/database",
    responses={503: {"description": "the database does not answer within a second"}},
)
async def readyz_database(request: Request) -> JSONResponse:
    """The database answers within a second: the check for an operator's alerting."""
    if await _database_answers(_runtime(request)):
        return JSONResponse({"database": "ok"})
    return JSONResponse({"database": "unreachable"}, 503)


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
    writer.register(_WriterFigures(runtime.settings.spool_dir, runtime.journal.queued))
    database = CollectorRegistry(auto_describe=False)
    database.register(_DatabaseUp(await _database_answers(runtime)))
    body = generate_latest(registry) + generate_latest(writer) + generate_latest(database)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
