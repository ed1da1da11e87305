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

from services.config import Settings

Role = Literal["ingest", "admin", "read"]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(token: str, keys: Sequence[str]) -> bool:
    # Compare against every key without stopping early, so timing says nothing about which.
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.encode())
    return found


def roles_of(token: str, settings: Settings) -> set[Role]:
    """The roles a key grants (a key may be configured for several)."""
    configured: dict[Role, list[str]] = {
        "admin": settings.admin_api_keys,
        "ingest": settings.ingest_api_keys,
        "read": settings.read_api_keys,
    }
    return {role for role, keys in configured.items() if _matches(token, keys)}


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
    wanted: set[Role] = {role, *others}

    async def check(request: Request) -> None:
        settings: Settings = request.app.state.runtime.settings
        if role == "read" and not settings.read_api_keys:
            return  # reads are open when READ_API_KEYS is unset
        keys = [k for r in wanted for k in _write_keys(settings, r)]
        if role != "read" and not keys and settings.open_writes:
            return
        token = _bearer(request)
        if token is None:
            raise _unauthorized("an API key is required: Authorization: Bearer KEY")
        granted = roles_of(token, settings)
        if not granted:
            raise _unauthorized("the API key is not valid")
        if role != "read" and not granted & wanted:
            raise HTTPException(403, f"this route needs an {' or '.join(sorted(wanted))} key")

    return check


def _write_keys(settings: Settings, role: Role) -> list[str]:
    if role == "read":
        return []
    return settings.ingest_api_keys if role == "ingest" else settings.admin_api_keys
