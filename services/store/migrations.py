"""Running the Alembic migrations: safely when several processes start at once.

Containers of a stack (the one-shot migrate, an API that migrates on start in dev) may all run
`upgrade head` together; they queue on a lock (a PostgreSQL session advisory lock, a file lock for
SQLite) and the later ones find the database already at head.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.store import locations
from services.store.database import create_folder_for, translated
from services.store.errors import NotMigrated

ROOT = Path(__file__).resolve().parents[2]
MIGRATION_LOCK = 7340031999999  # advisory lock key: frontline's migrations


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> frozenset[str]:
    """Every revision these migration scripts know (a database at another is ahead of the code)."""
    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> tuple[str | None, str | None]:
    """Migrate the database at `url` to head; a no-op when it is there already. Returns the
    revisions before and after. Raises StoreUnavailable when the database cannot be reached."""
    create_folder_for(url)
    engine = _engine(url)
    try:
        with translated(url), _migration_lock(engine, url) as conn:
            before = current_revision(conn)
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
            return before, current_revision(conn)
    finally:
        engine.dispose()


def check_migrated(url: str) -> None:
    """Raise StoreUnavailable when the database at `url` cannot be reached, NotMigrated when it
    has never been migrated. A missing SQLite file is not created (connecting would create it)."""
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:" and not Path(database).exists():
            raise NotMigrated("alembic_version", backend="SQLite", where=locations.where(url))
    engine = _engine(url)
    try:
        with translated(url), engine.connect() as conn:
            revision = current_revision(conn)
    finally:
        engine.dispose()
    if revision is None:
        raise NotMigrated("alembic_version", backend=locations.backend(url), where=locations.where(url))


def _engine(url: str) -> sa.Engine:
    # A server that does not answer fails the command in seconds, not after the OS's TCP timeout.
    connect_args = {} if url.startswith("sqlite") else {"connect_timeout": 10}
    return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)


@contextmanager
def _migration_lock(engine: sa.Engine, url: str) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                conn.commit()
            return
        with _file_lock(sa.make_url(url).database):
            yield conn


@contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        yield
        return
    path = Path(f"{database}.migrate-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
