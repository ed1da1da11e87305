"""RFC 9457 problem details: every error either app answers is `application/problem+json`."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from services.store.errors import StoreUnavailable
from services.web.request_ids import HEADER, SCOPE_KEY

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:frontline:problem:"


class Problem(BaseModel):
    """The body of every error answer (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def problem(
    status: int,
    slug: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries declaring problem+json answers for `statuses`."""
    return {
        s: {
            "model": Problem,
            "description": HTTPStatus(s).phrase,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


def _honest_openapi(app: FastAPI) -> None:
    """Declare problems as application/problem+json only.

    FastAPI adds an application/json entry for every response `model`; errors are never sent as
    that, so the generated schema is corrected once, when first built.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        if MEDIA_TYPE in content:
                            content.pop("application/json", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Translate framework and store errors into problem+json; nothing escapes as HTML or 500 text."""
    _honest_openapi(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = [_plain_error(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "malformed-json", "the body is not valid JSON", errors=errors)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem(422, "validation", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed(app, request.url.path))
        return problem(exc.status_code, slug, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged by the server as well; the client gets a problem, never a bare text 500. FastAPI
        # sends it from outside every middleware, RequestIds included: it echoes the id itself.
        request_id = request.scope.get(SCOPE_KEY)
        headers = {HEADER.decode(): request_id} if request_id else None
        return problem(500, "internal", "the server failed to answer; the error is logged", headers=headers)

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> Response:
        return problem(
            503,
            "store-unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "1"},
        )


def _allowed(app: FastAPI, path: str) -> list[str]:
    """Every method any route serves at `path` (the read and write routers share some paths)."""
    methods: set[str] = set()
    for route in app.routes:
        match, _ = route.matches({"type": "http", "path": path, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


_TIME = "a date such as 2017, 2017-11 or 2017-11-09, or a timestamp such as 2017-11-09T12:00:00Z"
_POSITION = "a log position: a whole number from 0"
# Query parameters whose errors read better as one sentence than as the validator's words (a
# pattern error would otherwise show the regular expression itself).
PARAMETER_HINTS = {
    "as_of": f"as_of must be {_TIME}",
    "known_at": f"known_at must be {_TIME}",
    "min_position": f"min_position must be {_POSITION} (the `position` a write answered with)",
    "after": f"after must be {_POSITION}",
    "limit": "limit must be a whole number from 1 to 1000",
}


def _plain_error(error: Any) -> dict[str, Any]:
    # Pydantic errors may carry the offending input (up to a megabyte) and exception objects;
    # answer with where, what and why only.
    loc = list(error.get("loc", ()))
    hint = PARAMETER_HINTS.get(loc[1]) if len(loc) == 2 and loc[0] == "query" else None
    return {"loc": loc, "msg": hint or str(error.get("msg", "")), "type": error.get("type", "")}
