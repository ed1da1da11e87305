"""The statements PostgreSQL and SQLite spell differently, behind one protocol.

In the manner of eventsourcing's recorders: `Backend` says what the store needs from a database,
`services.store.postgres` and `services.store.sqlite` say how each one does it, and `Database`
picks one when it opens its engine (`attach`). Every connection from that engine carries its
backend (`backend_of`), so store modules write portable SQLAlchemy where the two agree and call the
backend where they do not; nothing outside the two backend modules asks which database it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event

from services.domain.events import RecordedEvent
from services.store.control_rows import Key

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

    def one_of(self, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
        """`column IN values`, spelled so that the statement's text is the same for any count."""
        ...

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
        """Insert new rows, each its values in the table's column order (JSON columns as Python
        values): the fastest way the database has, for the thousands of rows a batch brings."""
        ...

    def update_column(
        self,
        conn: sa.Connection,
        column: sa.Column[Any],
        key: sa.Column[Any],
        pairs: Sequence[tuple[Any, Any]],
    ) -> None:
        """Set `column` to the value of each (key, value) pair in the row whose `key` matches."""
        ...

    def claims_before(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        """Per place, its last unretracted claim before the bound: rows of (place_id,
        occurred_start, position, state_after)."""
        ...

    def claims_from(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        """Every unretracted claim of each place at or after its bound: rows of `claims`."""
        ...

    def events_after(
        self, conn: sa.Connection, after: int, limit: int, upto: int | None
    ) -> list[RecordedEvent]:
        """`event_log.read_after`, read the fastest way for a projection that folds them all."""
        ...

    def create_read_models(self, conn: sa.Connection, suffix: str) -> None:
        """An empty set of read-model tables under `suffix` (dropping a leftover one)."""
        ...

    def drop_read_models(self, conn: sa.Connection, suffix: str) -> None:
        """Drop the set under `suffix`, whatever of it exists."""
        ...

    def swap_read_models(self, conn: sa.Connection, suffix: str, retired: str) -> None:
        """The set under `suffix` takes the live names; the live set takes the suffix `retired`."""
        ...

    def lock_out_readers(self, conn: sa.Connection, live: Sequence[sa.Table]) -> None:
        """Make readers of `live` wait until the caller's transaction ends."""
        ...


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
