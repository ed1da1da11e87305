"""GET /readyz against real servers: 503 naming what failed while PostgreSQL or Redis is down, 200
again once they are back; and the schema and durability checks.

PostgreSQL and Redis here are throwaway servers of the test's own (tests/support/servers.py): the
shared ones serve other test sessions, which must not see them stop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from services.ingest.app import create_app
from services.store.migrations import alembic_config, upgrade
from services.web.readiness import durability_problem
from tests.conftest import IN_CI
from tests.support import databases
from tests.support.apps import settings_for
from tests.support.servers import ThrowawayPostgres, ThrowawayRedis, postgres_bin_dir
from tests.support.workers import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL's initdb and pg_ctl are not installed"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    server = ThrowawayPostgres(bin_dir)
    try:
        server.init()
        server.start()
        upgrade(server.url)
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def own_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def readyz(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def failed_checks(client: TestClient) -> set[str]:
    status, body = readyz(client)
    assert status == 503, body
    return {e["check"] for e in body["errors"]}


def test_readyz_follows_postgres_and_redis_going_and_coming_back(
    own_postgres: ThrowawayPostgres, own_redis: ThrowawayRedis, cache_dir: Path
) -> None:
    settings = settings_for(own_postgres.url, cache_dir, redis_url=own_redis.url, queue_name="ready")
    with TestClient(create_app(settings)) as client:
        assert readyz(client) == (200, {"status": "ready"})

        own_redis.stop()
        assert failed_checks(client) == {"redis"}
        body = readyz(client)[1]
        assert body["type"] == "urn:frontline:problem:not-ready" and "redis" in body["detail"]
        own_redis.start()
        wait_until(lambda: readyz(client)[0] == 200, 20, "readiness after Redis came back")

        own_postgres.stop()
        assert failed_checks(client) == {"database"}
        assert client.get("/healthz").status_code == 200  # alive all the same: no I/O
        own_postgres.start()
        wait_until(lambda: readyz(client)[0] == 200, 30, "readiness after PostgreSQL came back")


def test_redis_is_not_checked_when_none_is_configured(pg_url: str, cache_dir: Path) -> None:
    with TestClient(create_app(settings_for(pg_url, cache_dir, redis_url=None))) as client:
        assert readyz(client) == (200, {"status": "ready"})


def test_a_schema_behind_head_is_not_ready(postgres_server: str, cache_dir: Path) -> None:
    with databases.postgres_schema(postgres_server, migrate=False) as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
            conn.commit()
        engine.dispose()
        with TestClient(create_app(settings_for(url, cache_dir))) as client:
            status, body = readyz(client)
            assert status == 503 and [e["check"] for e in body["errors"]] == ["migrations"]
            assert body["detail"] == "not ready: migrations: behind"


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"port": 1}, "unreachable"), ({"database": "frontline_no_such_db"}, "missing")],
    ids=["bad-port", "missing-database"],
)
def test_readyz_names_the_component_and_a_reason_class_never_the_address(
    pg_url: str, cache_dir: Path, change: dict[str, Any], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sa.make_url(pg_url).set(**change).render_as_string(hide_password=False)
    with TestClient(create_app(settings_for(url, cache_dir))) as client:
        status, body = readyz(client)
    assert status == 503
    assert body["detail"] == f"not ready: database: {reason}"
    assert body["errors"] == [{"check": "database", "msg": reason}]
    text = str(body)
    for secret in ("127.0.0.1", "port", "frontline_no_such_db", "postgres", "5432", '"1"'):
        assert secret not in text, secret
    logged = capsys.readouterr()
    assert "readyz.failed" in logged.out + logged.err  # the details go to the log


def test_commits_that_are_not_durable_are_not_ready(postgres_server: str, cache_dir: Path) -> None:
    with databases.postgres_schema(postgres_server) as url:
        # A connection option, so the shared server itself is left as it is.
        not_durable = f"{url}%20-csynchronous_commit%3Doff"
        with TestClient(create_app(settings_for(not_durable, cache_dir))) as client:
            status, body = readyz(client)
            assert status == 503 and [e["check"] for e in body["errors"]] == ["durability"]
            assert "synchronous_commit is off" in body["detail"]


def test_an_unmigrated_sqlite_file_is_not_ready_and_a_migrated_one_is(
    tmp_path: Path, cache_dir: Path
) -> None:
    empty = databases.sqlite_database(tmp_path / f"{uuid.uuid4().hex}.db", migrate=False)
    with TestClient(create_app(settings_for(empty, cache_dir))) as client:
        assert failed_checks(client) == {"migrations"}
        upgrade(empty)
        assert readyz(client)[0] == 200


@pytest.mark.parametrize(
    ("fsync", "synchronous_commit", "problem"),
    [
        ("on", "on", None),
        ("on", "remote_apply", None),
        ("on", "local", None),
        ("on", "off", "synchronous_commit is off"),
        ("off", "on", "fsync is off"),
    ],
)
def test_durability_rules(fsync: str, synchronous_commit: str, problem: str | None) -> None:
    assert durability_problem(fsync, synchronous_commit) == problem
