"""Request body limits, enforced while the body streams in (chunked bodies included)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.web.problems import problem

MAX_BODY = 1024 * 1024  # 1 MiB


class _TooLarge(HTTPException):
    # An HTTPException, so that FastAPI's body reader re-raises it to the problem handler
    # instead of turning it into "400 error parsing the body".
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class BodyLimit:
    """Answer 413 as soon as a body is known to exceed `limit` bytes, by header or by count."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._reject(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body exceeds {self.limit} bytes"
        await problem(413, "body-too-large", detail, headers={"Connection": "close"})(scope, receive, send)


class NoNul:
    """Answer 400 to a path or query string holding a NUL character.

    No identifier or filter of this API contains one, and PostgreSQL text cannot hold one: let
    through, it fails as a database error (a 500) instead of as the client's mistake it is.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or _has_nul(scope["query_string"])):
            detail = "the request's path or query holds a NUL character"
            await problem(400, "bad-request", detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(query: bytes) -> bool:
    return b"\x00" in query or b"%00" in query
