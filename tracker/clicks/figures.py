"""The click writer's figures: counted in its process, published as a file, read by /metrics.

The writer usually runs in a process of its own, which serves no HTTP; it
writes `writer.json` in the journal directory after every pass and every file
(also its heartbeat, which /readyz checks), and the serving processes turn it
into Prometheus metrics at scrape time (server/operations.py). The writer's
process needs no Prometheus client for that.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from pathlib import Path
from typing import Any

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
        self.late_attributions = 0
        self.held_seconds = 0.0

    def credited_late(self, orders: int) -> None:
        """Orders credited to their click when it was written after them."""
        self.late_attributions += orders

    def held(self, seconds: float) -> None:
        """Time the writer held clicks back while the processors were busy (headroom.py)."""
        self.held_seconds += seconds

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
            "late_attributions": self.late_attributions,
            "held_seconds": self.held_seconds,
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
