from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.store.database import Database


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
