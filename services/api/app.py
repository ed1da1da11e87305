"""The read service's app factory: `uvicorn --factory services.api.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.api import context, page, routes
from services.config import Settings
from services.web.runtime import Runtime
from services.web.setup import build_app


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    return build_app(
        "Frontline read API",
        settings or Settings(),
        installs=[routes.install, page.install],
        wiring=[context.wire],
        runtime=runtime,
    )
