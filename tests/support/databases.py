"""Creating isolated, migrated databases for tests: a PostgreSQL schema, a SQLite file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from services.store.migrations import upgrade


def with_search_path(url: str, schema: str) -> str:
    """The URL of `url`'s database whose connections work in `schema`."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def postgres_schema(admin_url: str, migrate: bool = True) -> Iterator[str]:
    """A new schema (migrated to head unless told otherwise), dropped afterwards."""
    schema = f"ft_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(admin_url, schema)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def sqlite_database(path: Path, migrate: bool = True) -> str:
    url = f"sqlite:///{path}"
    if migrate:
        upgrade(url)
    return url


def shared_cache_dir() -> Path:
    """The gazetteer cache used by tests: the repository's own, so it is built once per machine."""
    path = Path(os.environ.get("FRONTLINE_TEST_CACHE", Path(__file__).resolve().parents[2] / "var" / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path
