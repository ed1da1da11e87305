"""Test wiring shared by every tier.

Integration tests use the real PostgreSQL and Redis named by TEST_DATABASE_URL / TEST_REDIS_URL
(default: the local servers). Each test session works in a schema of its own, created here and
dropped at the end, and a Redis queue of its own, whose keys are deleted after it (the suite never
flushes a Redis database); under CI=true an unreachable server fails the run
instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import databases, redis_keys

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error})"
    if IN_CI:
        pytest.fail(f"{message}: under CI=true integration tests must run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL server (skips, or fails under CI, if it is down)."""
    try:
        engine = sa.create_engine(TEST_DATABASE_URL, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The test Redis. What the session's RQ workers leave there is removed at its end."""
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    before = redis_keys.throttles_present(TEST_REDIS_URL)
    yield TEST_REDIS_URL
    redis_keys.delete_throttles(TEST_REDIS_URL, keep=before)


@pytest.fixture(scope="session")
def pg_url(postgres_server: str) -> Iterator[str]:
    """A migrated PostgreSQL schema for this test session."""
    with databases.postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture
def fresh_pg_url(postgres_server: str) -> Iterator[str]:
    """A migrated, empty PostgreSQL schema for one test."""
    with databases.postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return databases.sqlite_database(tmp_path_factory.mktemp("sqlite") / "frontline.db")


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path) -> str:
    return databases.sqlite_database(tmp_path / "frontline.db")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One gazetteer cache for the whole session (building it takes seconds)."""
    return databases.shared_cache_dir()


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    """A queue of this test's own, whose keys (jobs, registries, workers) go when it ends."""
    name = f"frontline-test-{uuid.uuid4().hex[:10]}"
    yield name
    redis_keys.delete_queue_keys(redis_url, name)
