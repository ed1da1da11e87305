"""Request body limits, enforced while the body streams in (chunked bodies included): its size,
and the time a client may take to send it."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.web.problems import problem

MAX_BODY = 1024 * 1024  # 1 MiB
BODY_TIMEOUT = 10.0  # seconds from the request's headers to the end of its body


class _TooLarge(HTTPException):
    # An HTTPException, so that FastAPI's body reader re-raises it to the problem handler
    # instead of turning it into "400 error parsing the body".
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class _TooSlow(HTTPException):
    def __init__(self, timeout: float) -> None:
        detail = f"the request body did not arrive within {timeout:g} s"
        super().__init__(408, detail, headers={"Connection": "close"})


class BodyLimit:
    """Answer 413 as soon as a body is known to exceed `limit` bytes, by header or by count, and
    408 when it has not all arrived `timeout` seconds after the headers.

    Without the time bound a client sending a byte a minute holds a connection (and the request's
    resources) for as long as it likes. Once the body is complete, waiting on `receive` means
    waiting for the client to disconnect (a stream does), which is not bounded here.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._reject(scope, receive, send)
            return
        body = _BodyWatch(receive, send, self.limit, self.timeout)
        try:
            await self.app(scope, body.receive, body.send)
        except _TooLarge:
            if body.started:
                raise
            await self._reject(scope, receive, send)
        except _TooSlow as exc:
            if body.started:
                raise
            slow = problem(408, "request-timeout", str(exc.detail), headers=dict(exc.headers or {}))
            await slow(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body exceeds {self.limit} bytes"
        await problem(413, "body-too-large", detail, headers={"Connection": "close"})(scope, receive, send)


class _BodyWatch:
    """One request's `receive`, counting the body's bytes against the limit and its time against
    the deadline, and its `send`, noting whether the answer has begun."""

    def __init__(self, receive: Receive, send: Send, limit: int, timeout: float) -> None:
        self._receive, self._send = receive, send
        self.limit, self.timeout = limit, timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.received = 0
        self.complete = False
        self.started = False

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            raise _TooSlow(self.timeout) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise _TooLarge(self.limit)
            self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


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
