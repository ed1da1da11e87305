"""Running the Alembic migrations: safely when several processes start at once.

Containers of a stack (the one-shot migrate, an API that migrates on start in dev) may all run
`upgrade head` together; they queue on a lock (a PostgreSQL session advisory lock, a file lock for
SQLite) and the later ones find the database already at head.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.store import locations
from services.store.database import backend_for, translated
from services.store.errors import NotMigrated

ROOT = Path(__file__).resolve().parents[2]


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
    backend = backend_for(url)
    engine = backend.migration_engine(url)
    try:
        with translated(url), engine.connect() as conn, backend.migration_lock(conn):
            before = current_revision(conn)
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
            return before, current_revision(conn)
    finally:
        engine.dispose()


def check_migrated(url: str) -> list[str]:
    """Raise StoreUnavailable when the database at `url` cannot be reached, NotMigrated when it
    has never been migrated; else return the server's warnings (`Backend.server_warnings`). A
    missing SQLite file is not created (connecting would create it)."""
    backend = backend_for(url)
    if backend.missing(url):
        raise NotMigrated("alembic_version", backend=locations.backend(url), where=locations.where(url))
    engine = backend.migration_engine(url)
    try:
        with translated(url), engine.connect() as conn:
            revision = current_revision(conn)
            warnings = backend.server_warnings(conn)
    finally:
        engine.dispose()
    if revision is None:
        raise NotMigrated("alembic_version", backend=locations.backend(url), where=locations.where(url))
    return warnings
