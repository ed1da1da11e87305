"""The live map at `/`: one HTML page and its assets, built by `make assets` into `static/`.

The page holds no data, so it is served without a read key; it asks the reader for one when the
`/v1` reads need it. Asset names carry a hash of their content, so they are cached for a year and
never revalidated; the HTML, which names them, is revalidated on every load.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# Everything the page loads comes from this origin; the policy makes the browser hold it to that.
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class HashedAssets(StaticFiles):
    """Static files whose names change with their content: cacheable for good."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


async def map_page() -> FileResponse:
    """The live map of the places (HTML). It reads only the public `/v1` routes."""
    headers = {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=headers)


def install(app: FastAPI) -> None:
    """Serve the map at `/` and its assets under `/assets`."""
    app.add_api_route("/", map_page, methods=["GET", "HEAD"], include_in_schema=False, name="map_page")
    app.mount("/assets", HashedAssets(directory=STATIC / "assets"), name="assets")
