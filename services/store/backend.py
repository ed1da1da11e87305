"""The statements PostgreSQL and SQLite spell differently, behind one protocol.

In the manner of eventsourcing's recorders: `Backend` says what the store needs from a database,
`services.store.postgres` and `services.store.sqlite` say how each one does it, and `Database`
picks one when it opens its engine (`attach`). Every connection from that engine carries its
backend (`backend_of`), so store modules write portable SQLAlchemy where the two agree and call the
backend where they do not; nothing outside the two backend modules asks which database it has.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event

_KEY = "frontline.backend"


class Backend(Protocol):
    name: str

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """INSERT the rows in one statement, skipping those whose key exists; returns those inserted.

        A row whose key another transaction has inserted but not yet committed waits for that
        transaction: this is what makes a concurrent duplicate see the first one's outcome.
        """
        ...

    def lock_registry(self, conn: sa.Connection) -> None:
        """Serialise writers of places and actors (name clashes are checked, then inserted)."""
        ...

    # The log and its requests.

    # The read models.


def ignoring_conflicts(
    conn: sa.Connection, table: sa.Table, insert: Any, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Both backends' `insert_ignoring_conflicts`, given their dialect's `insert(table)` (whose
    `on_conflict_do_nothing` each dialect spells itself)."""
    if not rows:
        return []
    key = list(table.primary_key.columns)
    # executemany with RETURNING: SQLAlchemy batches the rows into multi-row INSERTs from one cached
    # compiled statement. RETURNING rather than rowcount: drivers disagree on rowcount here.
    inserted = {tuple(r) for r in conn.execute(insert.on_conflict_do_nothing().returning(*key), rows)}
    return [row for row in rows if tuple(row[c.name] for c in key) in inserted]


def attach(engine: sa.Engine, backend: Backend) -> None:
    """Make every connection `engine` opens carry `backend` (see `backend_of`)."""

    @event.listens_for(engine, "connect")
    def _carry(_dbapi_conn: Any, record: Any) -> None:
        record.info[_KEY] = backend


def backend_of(conn: sa.Connection) -> Backend:
    """The backend of the `Database` that opened `conn`."""
    backend: Backend = conn.info[_KEY]
    return backend
