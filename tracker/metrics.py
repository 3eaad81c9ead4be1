"""Prometheus metrics, and the `/metrics` endpoint that exposes them.

Labels are small fixed sets (status codes, platforms, outcomes, route
templates): never a slug, a key, an address or anything a visitor sends.
With several worker processes, `tracker serve` points PROMETHEUS_MULTIPROC_DIR
(prometheus-client's own variable) at a fresh directory and every process
writes its figures there.
"""

from __future__ import annotations

import functools
import os

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from tracker.clicks.figures import WriterCollector

REDIRECTS = Counter("tracker_redirects", "Short-link answers, by status", ["status"])
WEBHOOKS = Counter(
    "tracker_webhooks", "Webhook deliveries, by platform and outcome", ["platform", "outcome"]
)
ATTRIBUTIONS = Counter("tracker_attributions", "Attribution decisions, by rule", ["rule"])
REQUEST_SECONDS = Histogram(
    "tracker_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

router = APIRouter(tags=["operations"])


# `.labels()` costs more than the increment itself; the hot path reuses the children.
@functools.cache
def redirect_counter(status: int) -> Counter:
    return REDIRECTS.labels(str(status))


@functools.cache
def request_histogram(method: str, route: str, status: int) -> Histogram:
    return REQUEST_SECONDS.labels(method, route, str(status))


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    runtime = request.app.state.runtime
    writer = CollectorRegistry(auto_describe=False)
    writer.register(WriterCollector(runtime.settings.spool_dir, runtime.journal.queued))
    body = generate_latest(registry) + generate_latest(writer)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
