"""Building a FastAPI app the same way for every service: lifespan, problems, limits, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from services.config import Settings
from services.web import problems
from services.web.limits import BodyLimit
from services.web.runtime import Runtime

log = structlog.get_logger(__name__)

StartHook = Callable[[Runtime], None]


def build_app(
    title: str,
    settings: Settings,
    runtime: Runtime | None = None,
    on_start: list[StartHook] | None = None,
    on_stop: list[StartHook] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan creates the process's Runtime (unless one is given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt = runtime or Runtime.start(settings)
        app.state.runtime = rt
        _ = rt.gazetteer  # load (or build) the gazetteer now, not on the first request
        if rt.settings.open_writes and not rt.settings.ingest_api_keys:
            log.warning("auth.dev_mode", detail="writes and admin routes accept requests without a key")
        for hook in on_start or []:
            hook(rt)
        try:
            yield
        finally:
            for hook in on_stop or []:
                hook(rt)
            if owned:
                rt.close()

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    app.add_middleware(BodyLimit)
    problems.install(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Alive: answers without touching the database or Redis."""
        return {"status": "ok"}

    return app
