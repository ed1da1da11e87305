"""Building a FastAPI app the same way for every service: lifespan, problems, limits, request
ids, and the operations routes (/healthz, /readyz, /metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp

from services import logs
from services.config import Settings
from services.doorbell import Doorbell
from services.web import docs, metrics, problems, readiness
from services.web.limits import BodyLimit, NoNul
from services.web.request_ids import RequestIds
from services.web.runtime import Runtime

log = structlog.get_logger(__name__)

Hook = Callable[[FastAPI, Runtime], None]

# Outermost, in this order, whatever routers add later: the read API's cache answers polls before
# routing, and those answers must be counted and carry a request id like every other.
OUTERMOST: tuple[type, ...] = (RequestIds, metrics.RouteMetrics)
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


class ServiceApp(FastAPI):
    """FastAPI, with the operational middleware around everything else, FastAPI's own included.

    FastAPI wraps user middleware in three layers of its own (Starlette's ServerErrorMiddleware,
    its telemetry and body-limit middleware), each passing every message on. The layers in
    OUTERMOST, then any middleware class marked `OUTSIDE_FRAMEWORK` (the read API's cache), go
    outside them: a cached read passes through request ids, metrics and the cache, nothing else,
    which took a fifth off its cost. Everything that reaches the routes still passes through all.
    """

    def build_middleware_stack(self) -> ASGIApp:
        def outside(cls: object) -> bool:
            return cls in OUTERMOST or getattr(cls, "OUTSIDE_FRAMEWORK", False)

        def rank(cls: object) -> int:
            return OUTERMOST.index(cls) if cls in OUTERMOST else len(OUTERMOST)

        everything = self.user_middleware
        outer = sorted((m for m in everything if outside(m.cls)), key=lambda m: rank(m.cls))
        self.user_middleware = [m for m in everything if not outside(m.cls)]
        try:
            app = super().build_middleware_stack()
        finally:
            self.user_middleware = everything
        for cls, args, kwargs in reversed(outer):
            app = cls(app, *args, **kwargs)
        return app


def build_app(
    title: str, settings: Settings, runtime: Runtime | None = None, doorbell: Doorbell | None = None
) -> FastAPI:
    """A FastAPI app whose lifespan creates (and closes) the process's Runtime, unless one is given.

    Routers that need per-process machinery (the report writer, the embedded projector, the
    read cache) append hooks to `app.state.on_start` / `app.state.on_stop` when installed.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure_once(settings.log_level, settings.log_format, settings.dev_mode)  # uvicorn --factory
        owned = runtime is None
        rt = runtime or Runtime.start(settings, doorbell)
        app.state.runtime = rt
        _ = rt.gazetteer  # load (or build) the gazetteer now, not on the first request
        if rt.settings.open_writes and not rt.settings.ingest_api_keys:
            log.warning("auth.dev_mode", detail="writes and admin routes accept requests without a key")
        for hook in app.state.on_start:
            hook(app, rt)
        try:
            yield
        finally:
            for hook in app.state.on_stop:
                hook(app, rt)
            if owned:
                rt.close()

    # FastAPI's native OpenTelemetry is off: metrics are Prometheus's (services.web.metrics) and
    # logs structlog's, and left on it looks up the global providers on every request, a tenth of
    # what a cached read costs.
    app = ServiceApp(
        title=title,
        version="0.1.0",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
        docs_url=None,  # served by services.web.docs, from local files
        redoc_url=None,
    )
    app.state.on_start = []
    app.state.on_stop = []
    app.add_middleware(BodyLimit, timeout=settings.body_timeout)
    app.add_middleware(NoNul)
    app.add_middleware(RequestIds)
    problems.install(app)
    metrics.install(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Alive: answers without touching the database or Redis."""
        return {"status": "ok"}

    readiness.install(app)
    docs.install(app)
    return app
