"""The ASGI entry: single-segment paths that can be slugs go to the redirect, the rest to FastAPI.

The redirect is the hot path: it bypasses FastAPI's routing and middleware,
and is counted and logged here instead.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from tracker import logs, metrics
from tracker.links import slugs
from tracker.redirect.cache import UNKNOWN
from tracker.server.body_limit import BodySizeLimit
from tracker.server.runtime import Runtime

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class TrackerApp:
    """Single-segment paths that can be slugs go straight to the redirect; the rest to FastAPI."""

    def __init__(self, api: FastAPI, runtime: Runtime) -> None:
        self.api = api
        self.runtime = runtime
        self._redirect = runtime.redirect
        self._peek = runtime.link_cache.peek
        self._asgi = BodySizeLimit(api, runtime.settings.max_body_bytes)
        self._log_redirects = runtime.settings.access_log == "all"
        self._log_requests = runtime.settings.access_log != "off"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._asgi(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        slug = scope["path"][1:]
        # A slug the cache holds (or knows to be absent) was valid when it was stored.
        link = self._peek(slug)
        if link is not UNKNOWN or ("/" not in slug and slugs.is_valid(slug)):
            try:
                status = await self._redirect(scope, send, slug, link)
            finally:
                metrics.REDIRECT_COUNTS.count(status)
                if self._log_redirects:
                    logs.access(_method(scope), "/{slug}", status, time.perf_counter() - started)
            return

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._asgi(scope, receive, observed_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self._observe(scope, route, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        """Metrics and the access log, labelled by route template, never by slug or address."""
        method = _method(scope)
        metrics.request_histogram(method, route, status).observe(seconds)
        if self._log_requests:
            logs.access(method, route, status, seconds)

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """Start and stop the runtime without a server (tests, scripts)."""
        return self.api.router.lifespan_context(self.api)  # type: ignore[return-value]


def _method(scope: Scope) -> str:
    """The method as a metric label or log field: a fixed set."""
    return scope["method"] if scope["method"] in _METHODS else "OTHER"
