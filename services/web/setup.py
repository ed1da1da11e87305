"""Building a FastAPI app the same way for every service: its context (built by `bootstrap` in the
lifespan), problems, limits, request ids, and the operations routes (/healthz, /readyz, /metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from services import logs
from services.config import Settings
from services.doorbell import Doorbell
from services.web import docs, metrics, problems, readiness
from services.web.auth import ReadAccess
from services.web.context import AppContext, ServiceApp
from services.web.limits import BodyLimit, NoNul
from services.web.request_ids import RequestIds
from services.web.runtime import Runtime

log = structlog.get_logger(__name__)

Install = Callable[[ServiceApp], None]  # adds routes (and their middleware) when the app is built
Wire = Callable[[AppContext], None]  # adds parts to the context when the app starts

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def bootstrap(
    settings: Settings,
    wiring: Sequence[Wire],
    runtime: Runtime | None = None,
    doorbell: Doorbell | None = None,
) -> AppContext:
    """Everything one app needs while it runs: the Runtime (unless given), then each `wiring` in
    order, which adds and starts its parts. If one fails, what started before it stops again."""
    owned = runtime is None
    rt = runtime or Runtime.start(settings, doorbell)
    context = AppContext(rt, owns_runtime=owned)
    try:
        _ = rt.gazetteer  # load (or build) the gazetteer now, not on the first request
        if rt.settings.open_writes and not rt.settings.ingest_api_keys:
            log.warning("auth.dev_mode", detail="writes and admin routes accept requests without a key")
        context.provide(ReadAccess, ReadAccess(rt.settings))
        for wire in wiring:
            wire(context)
    except BaseException:
        context.close()
        raise
    return context


def build_app(
    title: str,
    settings: Settings,
    installs: Sequence[Install] = (),
    wiring: Sequence[Wire] = (),
    runtime: Runtime | None = None,
    doorbell: Doorbell | None = None,
) -> ServiceApp:
    """A FastAPI app with the routes `installs` add, whose lifespan bootstraps its context."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure_once(settings.log_level, settings.log_format, settings.dev_mode)  # uvicorn --factory
        context = bootstrap(settings, wiring, runtime, doorbell)
        service.context = context
        try:
            yield
        finally:
            service.context = None
            await context.aclose()

    service = _framework(title, lifespan)
    service.add_middleware(BodyLimit, timeout=settings.body_timeout)
    service.add_middleware(NoNul)
    problems.install(service)
    for install in installs:
        install(service)
    _operations(service)
    return service


def _framework(title: str, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> ServiceApp:
    # FastAPI's native OpenTelemetry is off: metrics are Prometheus's (services.web.metrics) and
    # logs structlog's, and left on it looks up the global providers on every request, a tenth of
    # what a cached read costs.
    return ServiceApp(
        title=title,
        version="0.1.0",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
        docs_url=None,  # served by services.web.docs, from local files
        redoc_url=None,
    )


def _operations(app: ServiceApp) -> None:
    """The operations routes, and the middleware every request passes first: added last, so that
    they wrap everything the routers added (the read API's cache answers polls before routing, and
    those answers must be counted and carry a request id like every other)."""
    metrics.install(app)
    app.add_front_middleware(RequestIds)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Alive: answers without touching the database or Redis."""
        return {"status": "ok"}

    readiness.install(app)
    docs.install(app)
