"""The click writer's figures: counted in its process, published as a file, read by /metrics.

The writer usually runs in a process of its own, which serves no HTTP; it
writes `writer.json` in the journal directory after every pass and every file
(also its heartbeat, which /readyz checks), and the serving processes turn it
into Prometheus metrics at scrape time.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

FIGURES_FILE = "writer.json"
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A writer silent this long is gone; a busy one publishes after every journal file.
SILENT_AFTER = 30.0


class Figures:
    def __init__(self, directory: Path) -> None:
        self.path = directory / FIGURES_FILE
        self.clicks_written = 0
        self.batch_buckets = [0] * (len(BATCH_BUCKETS) + 1)
        self.batch_seconds = 0.0

    def batch(self, seconds: float, written: int) -> None:
        self.clicks_written += written
        self.batch_buckets[bisect.bisect_left(BATCH_BUCKETS, seconds)] += 1
        self.batch_seconds += seconds

    def publish(self) -> None:
        figures = {
            "pid": os.getpid(),
            "updated_at": time.time(),
            "clicks_written": self.clicks_written,
            "batch_buckets": self.batch_buckets,
            "batch_seconds": self.batch_seconds,
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(figures))
        temporary.rename(self.path)


def read(directory: Path) -> dict[str, Any] | None:
    try:
        figures: dict[str, Any] = json.loads((directory / FIGURES_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return figures


def writer_running(directory: Path) -> bool:
    figures = read(directory)
    return figures is not None and time.time() - figures["updated_at"] < SILENT_AFTER


class WriterCollector(Collector):
    """The writer's published figures and the journal's backlog, as Prometheus metrics."""

    def __init__(self, directory: Path, queued: int) -> None:
        self._directory = directory
        self._queued = queued

    def collect(self) -> Iterator[Metric]:
        figures = read(self._directory) or {}
        yield CounterMetricFamily(
            "tracker_clicks_written",
            "Clicks inserted into the database",
            value=figures.get("clicks_written", 0),
        )
        counts = figures.get("batch_buckets", [0] * (len(BATCH_BUCKETS) + 1))
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, BATCH_BUCKETS), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "tracker_click_batch_seconds",
            "Time to write one batch of clicks",
            buckets=buckets,
            sum_value=figures.get("batch_seconds", 0.0),
        )
        yield GaugeMetricFamily(
            "tracker_clicks_queued",
            "Clicks answered but not yet in the database (in the journal)",
            value=self._queued,
        )
