"""API keys: `Authorization: Bearer KEY`, compared in constant time, one set per role.

Roles: `ingest` (reports, corrections, places, actors), `admin` (replay, projections) and `read`.
Reads accept any key; writes only their own role's. A role with no keys configured refuses every
request, except writes in dev mode on loopback (`make run`), which are open and say so at start.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.types import Scope

from services.config import Settings
from services.web.context import context_of

Role = Literal["ingest", "admin", "read"]

NO_KEY = "an API key is required: Authorization: Bearer KEY"
BAD_KEY = "the API key is not valid"


def _bearer(header: bytes | None) -> bytes | None:
    """The token of an `Authorization: Bearer TOKEN` header (None: no such header)."""
    if not header or header[:7].lower() != b"bearer ":
        return None
    return header[7:].strip() or None


def authorization(scope: Scope) -> bytes | None:
    """The request's Authorization header, as sent."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return None


def _matches(token: bytes, keys: Sequence[bytes]) -> bool:
    # Compare against every key without stopping early, so timing says nothing about which.
    found = False
    for key in keys:
        found |= hmac.compare_digest(token, key)
    return found


def _configured(settings: Settings) -> dict[Role, list[bytes]]:
    return {
        "admin": [k.encode() for k in settings.admin_api_keys],
        "ingest": [k.encode() for k in settings.ingest_api_keys],
        "read": [k.encode() for k in settings.read_api_keys],
    }


def roles_of(token: str, settings: Settings) -> set[Role]:
    """The roles a key grants (a key may be configured for several)."""
    return _granted(token.encode(), settings)


def _granted(token: bytes, settings: Settings) -> set[Role]:
    return {role for role, keys in _configured(settings).items() if _matches(token, keys)}


class ReadAccess:
    """Who may read: anyone when READ_API_KEYS is unset; else the bearer of any configured key
    (read, ingest or admin). The one rule of read authorisation: the read routes' dependency and
    the read cache's fast path both ask `refusal`. Built once per app (its keys encoded once)."""

    def __init__(self, settings: Settings) -> None:
        configured = _configured(settings)
        self.keys = [k for keys in configured.values() for k in keys] if settings.read_api_keys else None

    def refusal(self, header: bytes | None) -> str | None:
        """Why a request with this Authorization header may not read (None: it may)."""
        if self.keys is None:
            return None
        token = _bearer(header)
        if token is None:
            return NO_KEY
        return None if _matches(token, self.keys) else BAD_KEY


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="frontline"'})


# Declares the scheme in OpenAPI for writes and admin; the check reads the header itself (one
# answer for all roles, with the 401/403 distinction the contract asks for). Reads do not declare
# it: they are open unless READ_API_KEYS is set, which OpenAPI cannot say per deployment.
BEARER = HTTPBearer(auto_error=False, description="An API key: Authorization: Bearer KEY")


def require(role: Role, *others: Role) -> Callable[..., Awaitable[None]]:
    """A dependency admitting requests whose key grants `role` (or one of `others`).

    `async` although it never waits: FastAPI runs a plain `def` dependency in its thread pool, and
    two thread hops per request cost more than the whole check (a fifth of a report's CPU).
    """
    check = _checker(role, *others)
    if role == "read":
        return check

    async def check_declared(request: Request, _scheme: Annotated[object, Depends(BEARER)] = None) -> None:
        await check(request)

    return check_declared


def authenticated_route(role: Role, *others: Role) -> type[APIRoute]:
    """A route class that admits a request whose key grants `role` (or one of `others`) before
    its body is read.

    FastAPI reads and parses the body before it solves a route's dependencies, so a dependency
    would answer a keyless request with malformed JSON 400 (and make it wait for, and parse, the
    whole body) instead of 401. The check is the one `require` makes.
    """
    check = _checker(role, *others)

    class AuthenticatedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def checked(request: Request) -> Response:
                await check(request)
                return await handler(request)

            return checked

    return AuthenticatedRoute


def _checker(role: Role, *others: Role) -> Callable[[Request], Awaitable[None]]:
    if role == "read":
        return _check_read
    wanted: set[Role] = {role, *others}

    async def check(request: Request) -> None:
        settings = context_of(request.app).runtime.settings
        keys = [k for r in wanted for k in _write_keys(settings, r)]
        if not keys and settings.open_writes:
            return
        token = _bearer(authorization(request.scope))
        if token is None:
            raise _unauthorized(NO_KEY)
        granted = _granted(token, settings)
        if not granted:
            raise _unauthorized(BAD_KEY)
        if not granted & wanted:
            raise HTTPException(403, f"this route needs an {' or '.join(sorted(wanted))} key")

    return check


async def _check_read(request: Request) -> None:
    refusal = context_of(request.app).get(ReadAccess).refusal(authorization(request.scope))
    if refusal is not None:
        raise _unauthorized(refusal)


def _write_keys(settings: Settings, role: Role) -> list[str]:
    if role == "read":
        return []
    return settings.ingest_api_keys if role == "ingest" else settings.admin_api_keys
