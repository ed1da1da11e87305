"""Every route of the combined app against every kind of key.

The routes are read from the app itself, so a route added later is covered without touching this
file. Reads: any key passes, none is a 401 (READ_API_KEYS set). Writes (POST under /v1): the
ingest key only (renaming a place: ingest or admin); admin routes (/v1/admin): the admin key only;
a key of another role is a 403, no key a 401. Only the operations and documentation routes, and the
map page (no data), stay open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.combined import create_app
from services.store import replays
from services.web.context import context_of
from tests.support import databases
from tests.support.apps import ADMIN_KEY, INGEST_KEY, READ_KEY, settings_for
from tests.support.workers import wait_until

pytestmark = pytest.mark.postgres

OPEN = {"/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
# A stream never ends, so it is asked for with a resume point it must refuse: the key check comes
# first (a 401/403), a key that passes shows as the 422 that follows it.
STREAMS = {"/v1/stream"}
KEYS: dict[str, str | None] = {"none": None, "read": READ_KEY, "ingest": INGEST_KEY, "admin": ADMIN_KEY}


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, routers included (FastAPI keeps those behind a wrapper)."""
    found = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            for method in getattr(context, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, context.path))
    return sorted(found, key=lambda e: (e[1], e[0]))


def needed_role(method: str, path: str) -> tuple[str, ...]:
    if path.startswith("/v1/admin"):
        return ("admin",)
    if (method, path) == ("PATCH", "/v1/places/{place_id}"):
        return ("ingest", "admin")  # operators rename places with either key
    return ("read",) if method == "GET" else ("ingest",)


def expected(roles: tuple[str, ...], key: str) -> str:
    if key == "none":
        return "401"
    return "pass" if "read" in roles or key in roles else "403"


def outcome(method: str, status: int, path: str = "") -> str:
    """What an answer says of the key: 401, 403, or passed (whatever the route made of the rest)."""
    if status in (401, 403):
        return str(status)
    if path in STREAMS:
        return "pass" if status == 422 else f"unexpected {status}"
    passed = (200 <= status < 300 or status == 404) if method == "GET" else status < 500
    return "pass" if passed else f"unexpected {status}"


def call(client: TestClient, spec: dict[str, Any], method: str, path: str, key: str | None) -> int:
    url, params = fill(spec, method, path)
    if path in STREAMS:
        params["after"] = "-1"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, url, params=params, headers=headers, **body).status_code  # type: ignore[arg-type]


def fill(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, str]]:
    """The path with its parameters filled in, and the required query parameters, from OpenAPI."""
    parameters = spec.get("paths", {}).get(path, {}).get(method.lower(), {}).get("parameters", [])
    query = {}
    for parameter in parameters:
        sample = {"integer": "0", "number": "0", "boolean": "true"}.get(parameter["schema"].get("type"), "x")
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", sample)
        elif parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = sample
    while "{" in path:  # a route left out of the schema: any value will do
        start = path.index("{")
        path = path[:start] + "x" + path[path.index("}", start) + 1 :]
    return path, query


@pytest.fixture(scope="module")
def database_url(postgres_server: str) -> Iterator[str]:
    with databases.postgres_schema(postgres_server) as url:
        yield url


def matrix(app: FastAPI, keys: dict[str, str | None]) -> list[str]:
    """Every (route, key) whose answer is not what its role says, as readable lines."""
    wrong = []
    with TestClient(app) as client:
        spec = app.openapi()
        for method, path in endpoints(app):
            if path in OPEN:
                continue
            role = needed_role(method, path)
            for key_name, key in keys.items():
                status = call(client, spec, method, path, key)
                if outcome(method, status, path) != expected(role, key_name):
                    wrong.append(
                        f"{method} {path} with {key_name} key: {status}, not {expected(role, key_name)}"
                    )
        settle(app)
    return wrong


def settle(app: FastAPI) -> None:
    """Let a replay that an admin call started finish before the app stops under it."""

    def idle() -> bool:
        with context_of(app).runtime.db.snapshot() as conn:
            return replays.active(conn) is None

    wait_until(idle, 60, "the replay started by the matrix to finish")


def test_every_route_against_every_key(database_url: str, cache_dir: Path) -> None:
    app = create_app(settings_for(database_url, cache_dir, read_api_keys=[READ_KEY]))
    found = endpoints(app)
    assert {("POST", "/v1/reports"), ("GET", "/v1/places"), ("GET", "/v1/places/{place_id}")} <= set(found)
    assert matrix(app, KEYS) == []


def test_the_open_routes_need_no_key(database_url: str, cache_dir: Path) -> None:
    app = create_app(settings_for(database_url, cache_dir, read_api_keys=[READ_KEY]))
    with TestClient(app) as client:
        for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/redoc"):
            assert client.get(path).status_code == 200, path


def test_write_and_admin_routes_with_no_keys_configured_refuse_everyone(
    database_url: str, cache_dir: Path
) -> None:
    settings = settings_for(
        database_url, cache_dir, ingest_api_keys=[], admin_api_keys=[], read_api_keys=[READ_KEY]
    )
    app = create_app(settings)
    with TestClient(app) as client:
        spec = app.openapi()
        for method, path in endpoints(app):
            if path in OPEN or needed_role(method, path) == ("read",):
                continue
            assert call(client, spec, method, path, None) == 401, (method, path)
            assert call(client, spec, method, path, "a-guess") == 401, (method, path)
            assert call(client, spec, method, path, READ_KEY) == 403, (method, path)


@pytest.mark.parametrize(("host", "opened"), [("127.0.0.1", True), ("0.0.0.0", False)])  # noqa: S104
def test_dev_mode_opens_writes_on_loopback_only(
    database_url: str, cache_dir: Path, host: str, opened: bool
) -> None:
    settings = settings_for(
        database_url, cache_dir, ingest_api_keys=[], admin_api_keys=[], dev_mode=True, host=host
    )
    app = create_app(settings)
    with TestClient(app) as client:
        spec = app.openapi()
        for method, path in endpoints(app):
            if path in OPEN:
                continue
            status = call(client, spec, method, path, None)
            open_anyway = needed_role(method, path) == ("read",)  # READ_API_KEYS is unset
            wanted = "pass" if opened or open_anyway else "401"
            assert outcome(method, status, path) == wanted, (method, path)
        settle(app)
