"""FastAPI dependencies shared by both apps.

They are `async` although none waits: FastAPI runs a plain `def` dependency in its thread pool,
a hop that costs more than any of them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from services.web.context import AppContext, context_of
from services.web.runtime import Runtime


async def get_context(request: Request) -> AppContext:
    """The running app's context: its Runtime and the parts its routes need."""
    return context_of(request.app)


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_runtime(request: Request) -> Runtime:
    """The context's Runtime (read directly: one dependency fewer to solve per request)."""
    return context_of(request.app).runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_json(request: Request) -> None:
    """Refuse (415) a body that does not say it is JSON, rather than guess."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise HTTPException(415, "the body must be JSON, sent with Content-Type: application/json")
