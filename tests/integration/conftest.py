from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.combined import create_app
from services.seed import SEED_REPORT
from services.store.database import Database
from tests.support.apps import INGEST, settings_for


@pytest.fixture(params=["postgres", "sqlite"])
def backend_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database on each backend: the store contract holds on both."""
    fixture = "fresh_pg_url" if request.param == "postgres" else "fresh_sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def db(backend_url: str) -> Iterator[Database]:
    database = Database(backend_url)
    yield database
    database.dispose()


@pytest.fixture
def fresh_pg_db(fresh_pg_url: str) -> Iterator[Database]:
    database = Database(fresh_pg_url)
    yield database
    database.dispose()


@pytest.fixture
def fresh_sqlite_db(fresh_sqlite_url: str) -> Iterator[Database]:
    database = Database(fresh_sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def client(backend_url: str, cache_dir: Path) -> Iterator[TestClient]:
    """The combined app (embedded projector) on a fresh database of each backend."""
    with TestClient(create_app(settings_for(backend_url, cache_dir, reconcile_interval=0.2))) as c:
        yield c


@pytest.fixture
def seeded(client: TestClient) -> int:
    """The seed article POSTed through `client`: its log position."""
    body = copy.deepcopy(SEED_REPORT)
    body["id"] = f"seed-{uuid.uuid4().hex}"
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    return int(response.json()["position"])
