"""One process serving everything (`frontline serve`, `make run`): the write API, the read API and
the projector, on SQLite by default or PostgreSQL and Redis when configured."""

from __future__ import annotations

from fastapi import FastAPI

from services.config import Settings
from services.ingest import routes as ingest_routes
from services.web.runtime import Runtime
from services.web.setup import build_app


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    app = build_app("Frontline", settings or Settings(), runtime)
    ingest_routes.install(app)
    return app
