"""The hot path of polling: a cached answer (or a 304) straight from ASGI, before any routing.

Everything else (a miss, a bad parameter, a missing key, a position not reached yet) goes on to the
FastAPI routes, which compute the answer and fill the cache. Only answers the routes produced are
ever served from here, so validation and authorisation stay where they are declared.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.cache import Entry, ReadCache, matches, request_key

log = structlog.get_logger(__name__)

CACHED_PREFIXES = ("/v1/places", "/v1/contested", "/v1/actors", "/v1/changes")


class CachedReads:
    OUTSIDE_FRAMEWORK = True  # served before FastAPI's own middleware (see services.web.setup)

    def __init__(self, app: ASGIApp, cache: ReadCache, read_keys: Sequence[str]) -> None:
        self.app = app
        self.cache = cache
        self.keys = [k.encode() for k in read_keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(CACHED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        try:
            entry, position, inm = self._lookup(scope)
        except Exception:
            # This layer sits outside the framework's error handling: a fault here must not turn
            # a read the routes can answer into a bare 500. Log it and let the routes answer.
            log.exception("fastpath.failed", path=scope["path"])
            entry = None
        if entry is None:
            await self.app(scope, receive, send)
            return
        if matches(inm, entry.etag):
            await send({"type": "http.response.start", "status": 304, "headers": entry.headers(position)})
            await send({"type": "http.response.body", "body": b""})
            return
        response_headers = [
            *entry.headers(position),
            (b"content-type", entry.media_type.encode()),
            (b"content-length", str(len(entry.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else entry.body})

    def _lookup(self, scope: Scope) -> tuple[Entry | None, int, str | None]:
        """The fresh cached answer this request may have (None: the routes answer), the position
        it is true at, and the request's If-None-Match."""
        authorization = inm = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"if-none-match":
                inm = value
        query = scope["query_string"].decode("latin-1")
        if not self._authorised(authorization):
            return None, 0, None
        entry, position = self.cache.lookup(request_key(scope["path"], query))
        if entry is None or position is None or not self._reached(query, position):
            return None, 0, None
        return entry, position, inm.decode("latin-1") if inm else None

    def _authorised(self, header: bytes | None) -> bool:
        if not self.keys:
            return True
        if not header or header[:7].lower() != b"bearer ":
            return False
        token = header[7:].strip()
        found = False
        for key in self.keys:
            found |= hmac.compare_digest(token, key)
        return found

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
