"""Prometheus metrics that every layer counts into (`/metrics` serves them: server/operations.py).

Labels are small fixed sets (status codes, platforms, outcomes, route
templates): never a slug, a key, an address or anything a visitor sends.
With several worker processes, `tracker serve` points PROMETHEUS_MULTIPROC_DIR
(prometheus-client's own variable) at a fresh directory and every process
writes its figures there.
"""

from __future__ import annotations

import asyncio
import functools

from prometheus_client import Counter, Gauge, Histogram

REDIRECTS = Counter("tracker_redirects", "Short-link answers, by status", ["status"])
WEBHOOKS = Counter(
    "tracker_webhooks", "Webhook deliveries, by platform and outcome", ["platform", "outcome"]
)
ATTRIBUTIONS = Counter("tracker_attributions", "Attribution decisions, by rule", ["rule"])
_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
REQUEST_SECONDS = Histogram(
    "tracker_request_seconds",
    "Time to answer an HTTP request other than a redirect, by route template",
    ["method", "route", "status"],
    buckets=_SECONDS_BUCKETS,
)
LINK_LOOKUP_SECONDS = Histogram(
    "tracker_link_lookup_seconds",
    "Database lookups of slugs the redirect did not hold in memory",
    buckets=_SECONDS_BUCKETS,
)

# Labelled by mechanism (notified, polled) so that only serving processes report it; with
# several workers, the least of the live ones: 0 as soon as one of them falls back.
LINK_CHANGES_HEARD = Gauge(
    "tracker_link_changes_heard",
    "1 while this process hears link changes made elsewhere at once, "
    "0 while it falls back to the link cache's TTL",
    ["mechanism"],
    multiprocess_mode="livemin",
)


class RedirectCounts:
    """`tracker_redirects_total`, added up here and handed over once per loop turn.

    A redirect answered from memory costs about 10 µs; prometheus-client's label
    lookup and lock cost a tenth of that per call, so a burst pays them once
    per status and turn instead. A redirect's own latency is not timed: from
    memory it is microseconds, and its one slow part, the database lookup of a
    slug not yet in memory, is `tracker_link_lookup_seconds`.
    """

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._scheduled = False

    def count(self, status: int) -> None:
        self._counts[status] = self._counts.get(status, 0) + 1
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        counts, self._counts = self._counts, {}
        for status, count in counts.items():
            REDIRECTS.labels(str(status)).inc(count)


REDIRECT_COUNTS = RedirectCounts()


@functools.cache
def request_histogram(method: str, route: str, status: int) -> Histogram:
    return REQUEST_SECONDS.labels(method, route, str(status))
