"""The app factory: the runtime, the routers and the error handlers, behind the dispatcher."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from tracker import logs
from tracker.auth import WrongKeyLimiter
from tracker.clicks import visitor
from tracker.clicks.router import router as clicks_router
from tracker.config import Settings, get_settings
from tracker.dashboard.router import router as dashboard_router
from tracker.links.router import router as links_router
from tracker.orders.registry import PLATFORMS
from tracker.orders.router import webhooks_router
from tracker.reports.router import router as reports_router
from tracker.server import operations
from tracker.server.dispatch import TrackerApp
from tracker.server.error_handlers import install_error_handlers
from tracker.server.runtime import Runtime
from tracker.spend.router import router as spend_router


def create_app(settings: Settings | None = None) -> TrackerApp:
    settings = settings or get_settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if settings.click_writer == "thread":
            visitor.load_parsers()  # every click's user agent is read here, from the first
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
    # What the routers' dependencies read: SessionDep, SettingsDep, LinkChangesDep, readers.
    api.state.runtime = runtime
    api.state.settings = settings
    api.state.sessionmaker = runtime.sessionmaker
    api.state.link_changes = runtime.link_changes
    api.state.readers = runtime.readers
    api.state.safe_requests = runtime.safe_requests
    api.state.wrong_keys = WrongKeyLimiter()
    install_error_handlers(api)
    api.include_router(operations.router)
    api.include_router(links_router)
    api.include_router(webhooks_router(PLATFORMS.values()))
    api.include_router(spend_router)
    api.include_router(reports_router)
    api.include_router(clicks_router)
    api.include_router(dashboard_router)
    return TrackerApp(api, runtime)


def serve_app() -> TrackerApp:
    """The factory `tracker serve` hands to uvicorn: each worker process configures its logs."""
    settings = get_settings()
    logs.configure(settings.log_level)
    return create_app(settings)
