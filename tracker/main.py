"""The ASGI application: the redirect path in front, the FastAPI app for everything else."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker import health, logs, metrics
from tracker.clicks import visitor
from tracker.config import Settings, get_settings
from tracker.errors import install_error_handlers
from tracker.links import slugs
from tracker.links.router import router as links_router
from tracker.orders.router import router as orders_router
from tracker.redirect.cache import UNKNOWN
from tracker.redirect.router import RedirectHandler
from tracker.reports.router import router as reports_router
from tracker.runtime import Runtime
from tracker.spend.router import router as spend_router


class BodySizeLimit:
    """Refuse bodies over the limit with 413, before they are read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            # Past the limit: answer 413 ourselves and tell the app the client went away.
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes and not refused:
                refused = True
                await _too_large(send, self.max_bytes)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _too_large(send: Send, max_bytes: int) -> None:
    body = f'{{"detail":"request body over {max_bytes} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class TrackerApp:
    """Single-segment paths that can be slugs go straight to the redirect; the rest to FastAPI."""

    def __init__(self, api: FastAPI, runtime: Runtime) -> None:
        self.api = api
        self.runtime = runtime
        self._redirect = RedirectHandler(runtime)
        self._peek = runtime.link_cache.peek
        self._asgi = BodySizeLimit(api, runtime.settings.max_body_bytes)

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

    @staticmethod
    def _observe(scope: Scope, route: str, status: int, seconds: float) -> None:
        """Metrics and the access log, labelled by route template, never by slug or address."""
        method = _method(scope)
        metrics.request_histogram(method, route, status).observe(seconds)
        logs.access(method, route, status, seconds)

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """Start and stop the runtime without a server (tests, scripts)."""
        return self.api.router.lifespan_context(self.api)  # type: ignore[return-value]


def _method(scope: Scope) -> str:
    """The method as a metric label or log field: a fixed set."""
    return scope["method"] if scope["method"] in _METHODS else "OTHER"


def create_app(settings: Settings | None = None) -> TrackerApp:
    settings = settings or get_settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        visitor.load_parsers()
        # Everything loaded so far lives as long as the process: keep the cyclic collector
        # from walking it again and again under load, where its pauses become the p99.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPIOffline(
        static_url="/static/docs",
        title="Tracker",
        summary="UTM short links, click logging and order attribution.",
        version="0.1.0",
        lifespan=lifespan,
    )
    api.state.runtime = runtime
    install_error_handlers(api)
    api.include_router(health.router)
    api.include_router(metrics.router)
    api.include_router(links_router)
    api.include_router(orders_router)
    api.include_router(spend_router)
    api.include_router(reports_router)
    return TrackerApp(api, runtime)


def serve_app() -> TrackerApp:
    """The factory `tracker serve` hands to uvicorn: each worker process configures its logs."""
    settings = get_settings()
    logs.configure(settings.log_level)
    return create_app(settings)
