"""The ingest service's app factory: `uvicorn --factory services.ingest.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.config import Settings
from services.ingest import admin, routes
from services.web.runtime import Runtime
from services.web.setup import build_app


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    return build_app(
        "Frontline ingest",
        settings or Settings(),
        installs=[routes.install, admin.install],
        wiring=[admin.queued_replays, routes.wire],
        runtime=runtime,
    )
