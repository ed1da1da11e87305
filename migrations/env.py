"""Alembic environment: the URL comes from Settings, or a connection is handed in by the caller.

`frontline migrate` passes its own connection (holding the migration lock) in
`config.attributes["connection"]`; plain `alembic upgrade head` connects from DATABASE_URL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from services.config import Settings
from services.store.read_models import checkpoint_metadata, tables
from services.store.schema import metadata

target_metadata = [metadata, tables().metadata, checkpoint_metadata]


def run_migrations(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = sa.create_engine(Settings().database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        run_migrations(conn)
        conn.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: the triggers are dialect-specific")
run_online()
