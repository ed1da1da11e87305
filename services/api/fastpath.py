"""The hot path of polling: a cached answer (or a 304) straight from ASGI, before any routing.

Everything else (a miss, a bad parameter, a missing key, a position not reached yet) goes on to the
FastAPI routes, which compute the answer and fill the cache. Only answers the routes produced are
ever served from here, so validation and authorisation stay where they are declared.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.cache import Entry, ReadCache, matches, request_key
from services.api.context import ReadSide
from services.web.auth import ReadAccess
from services.web.context import AppContext, context_of

log = structlog.get_logger(__name__)

CACHED_PREFIXES = ("/v1/places", "/v1/contested", "/v1/actors", "/v1/changes")


class CachedReads:
    """A middleware: outside the routing, inside request ids and metrics (see services.web.setup).
    Its cache and the rule of who may read are the running app's (`ReadSide`, `ReadAccess`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._context: AppContext | None = None
        self._access: ReadAccess | None = None
        self._cache: ReadCache | None = None

    def _parts(self, context: AppContext) -> tuple[ReadAccess, ReadCache]:
        """The running app's read rule and cache, looked up once per run of the app (a hit is a
        few microseconds: lookups per request would be a tenth of it)."""
        if context is not self._context or self._access is None or self._cache is None:
            self._access, self._cache = context.get(ReadAccess), context.get(ReadSide).cache
            self._context = context
        return self._access, self._cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(CACHED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        try:
            entry, position, inm, accept = self._lookup(scope)
        except Exception:
            # This layer sits outside the routes' error handling: a fault here must not turn a
            # read the routes can answer into a 500. Log it and let the routes answer.
            log.exception("fastpath.failed", path=scope["path"])
            entry = None
        if entry is None:
            await self.app(scope, receive, send)
            return
        form = entry.form(accept)
        headers = form.headers(position)
        if matches(inm, form.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += form.content_headers(entry.media_type)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else form.body})

    def _lookup(self, scope: Scope) -> tuple[Entry | None, int, str | None, str | None]:
        """The fresh cached answer this request may have (None: the routes answer), the position
        it is true at, and the request's If-None-Match and Accept-Encoding."""
        authorization = None
        inm: list[bytes] = []  # list-valued fields, as many lines as a client sent
        accept: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:  # the first, as the routes read it
                authorization = value
            elif name == b"if-none-match":
                inm.append(value)
            elif name == b"accept-encoding":
                accept.append(value)
        query = scope["query_string"].decode("latin-1")
        access, cache = self._parts(context_of(scope["app"]))
        if access.refusal(authorization) is not None:
            return None, 0, None, None  # the route's dependency answers 401, with the same reason
        entry, position = cache.lookup(request_key(scope["path"], query))
        if entry is None or position is None or not self._reached(query, position):
            return None, 0, None, None
        return entry, position, _text(inm), _text(accept)

    @staticmethod
    def _reached(query: str, position: int) -> bool:
        if "min_position" not in query:
            return True
        # The last one given, as the route reads it.
        value = [v for name, v in parse_qsl(query, keep_blank_values=True) if name == "min_position"][-1:]
        if not value:
            return True
        # isdigit() alone admits "²" and other digits int() refuses: the route answers those.
        return value[0].isascii() and value[0].isdigit() and int(value[0]) <= position


def _text(lines: list[bytes]) -> str | None:
    """A list-valued field's lines as one value (RFC 9110 5.3), as the routes read it."""
    return b", ".join(lines).decode("latin-1") if lines else None
