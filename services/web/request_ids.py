"""Request ids: one per request, on every log line written while it is served, and in its answer.

An incoming `X-Request-ID` (a proxy's, a client's) is kept when it is a plain token, so that one id
follows a request across services; otherwise one is made. Each request also ends with one access
line (`http.request`: method, path, status, milliseconds; DEBUG for probes), uvicorn's own access
log being off.

This runs for every request, the read API's cached answers included (some 15 µs each), so it does
as little as it can: no UUID object, no context manager, and no log call below LOG_LEVEL.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
SCOPE_KEY = "frontline.request_id"  # where the id is kept for the answer FastAPI's error layer sends
# Anything else (control characters, spaces, kilobytes) would let a client forge or flood log lines.
ACCEPTED = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$")
# Probes and scrapes arrive every few seconds from machines: their lines are DEBUG, not INFO.
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})

ACCESS = "services.web.access"
log = structlog.get_logger(ACCESS)


# A made id is this process's random prefix and a counter: unique across processes and restarts
# like a random id (which took a read of the system's randomness per request), and not a secret.
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def _reseed() -> None:
    global _PREFIX, _COUNTER  # a forked child must not repeat its parent's ids
    _PREFIX, _COUNTER = secrets.token_hex(8), itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


def incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER and ACCEPTED.match(value):
            return str(value.decode("ascii"))
    return None


class RequestIds:
    """Binds `request_id` into structlog's contextvars for the request, echoes it as X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.access = logging.getLogger(ACCESS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope[SCOPE_KEY] = incoming_id(scope) or new_id()
        header = (HEADER, request_id.encode())
        status = 500  # if the app fails before answering, the server answers 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("http.request.failed", method=scope["method"], path=scope["path"])
            raise
        finally:
            self._log(scope, status, started)
            structlog.contextvars.reset_contextvars(**tokens)

    def _log(self, scope: Scope, status: int, started: float) -> None:
        level = logging.DEBUG if scope["path"] in PROBES else logging.INFO
        if self.access.isEnabledFor(level):
            ms = round((time.perf_counter() - started) * 1000, 2)
            log.log(level, "http.request", method=scope["method"], path=scope["path"], status=status, ms=ms)
