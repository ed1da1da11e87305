"""The statements PostgreSQL and SQLite spell differently, behind one protocol.

In the manner of eventsourcing's recorders: `Backend` says what the store needs from a database,
`services.store.postgres` and `services.store.sqlite` say how each one does it, and `Database`
picks one by its URL when it opens its engine (`database.backend_for`, the one choice of it).
Every connection from that engine carries its backend (`backend_of`), so store modules write
portable SQLAlchemy where the two agree and call the backend where they do not; nothing outside
the two backend modules asks which database it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from services.domain.events import RecordedEvent
from services.store.control_rows import Key

_KEY = "frontline.backend"


# A row as the store's own statements return it: the columns they name, in their order.
Row = tuple[Any, ...]


class Backend(Protocol):
    name: str

    def __hash__(self) -> int:
        """By identity, as any object's: queries built for a backend are kept by it (see
        services.api.reads)."""
        ...

    # Connections: opening the engine, reading, and the locks a process holds.

    def create_engine(self, url: str, pool_size: int) -> sa.Engine:
        """The services' engine for `url`, this backend attached (see `attach`)."""
        ...

    def create_async_engine(self, url: str) -> AsyncEngine | None:
        """An engine of the async driver for `url`, for reads awaited on an event loop (one
        connection, its owner disposes it); None when the backend has no async driver."""
        ...

    def migration_engine(self, url: str) -> sa.Engine:
        """An engine for Alembic and the migration checks: no pool, none of the services' settings,
        and a server that does not answer fails the command in seconds."""
        ...

    def missing(self, url: str) -> bool:
        """True when there is certainly no database at `url` yet (a SQLite file not created: to
        connect would create it); False when only connecting can tell."""
        ...

    def read_only(self, conn: sa.Connection) -> sa.Connection:
        """`conn` set to begin a read-only transaction whose statements all see one snapshot."""
        ...

    def lock_tables(self, conn: sa.Connection, names: Sequence[str]) -> None:
        """Hold ACCESS SHARE locks on tables until the transaction ends (see `Database.snapshot`)."""
        ...

    def hears_notices(self) -> bool:
        """Whether a reader can LISTEN for `notify`, rather than only poll."""
        ...

    def limit_statements(self, conn: sa.Connection, milliseconds: int) -> None:
        """Cancel any statement of the transaction that runs longer than `milliseconds`."""
        ...

    def durability_settings(self, conn: sa.Connection) -> tuple[str, str]:
        """The server's `fsync` and `synchronous_commit`, as PostgreSQL names them."""
        ...

    def server_warnings(self, conn: sa.Connection) -> list[str]:
        """What in the server's settings will slow the services down as the tables grow (nothing
        unsafe: that is `durability_settings`'s), in words for an operator."""
        ...

    def by_code_point(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        """`column` ordered and compared as Python compares strings, whatever the collation."""
        ...

    def migration_lock(self, conn: sa.Connection) -> AbstractContextManager[None]:
        """Queue for running the migrations: one process at a time, released when it dies."""
        ...

    def replay_runner_lock(
        self, engine: sa.Engine, replay_id: str, wait: bool
    ) -> AbstractContextManager[bool]:
        """The lock a replay's runner holds while it lives (see `services.store.replay_runners`):
        taken, waiting for it or not; yields whether it was."""
        ...

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

    def lock_log(self, conn: sa.Connection) -> None:
        """Hold the log's append lock until the transaction ends (see `services.store.serial`)."""
        ...

    # The log and its requests.

    def append_events(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[Row]:
        """INSERT event rows (every column but position, stream_version and recorded_at) in their
        order; returns (event_id, position, stream_version) of each."""
        ...

    def claim_requests(self, conn: sa.Connection, kind: str, hashes: dict[str, str]) -> set[str]:
        """`requests.claim_many`: record the ids (in sorted order) with their body hashes; returns
        those recorded now. An id a concurrent transaction recorded makes this wait for it."""
        ...

    def claim_and_append(
        self, conn: sa.Connection, kind: str, hashes: dict[str, str], rows: list[dict[str, Any]], commit: bool
    ) -> tuple[set[str], list[Row]]:
        """`claim_requests`, then `append_events` of the rows whose request was claimed now: the ids
        claimed and the rows returned. With `commit`, the transaction commits with the append where
        the backend can send both at once (see `event_log.commit_with_append`)."""
        ...

    def stored_hashes(self, conn: sa.Connection, kind: str, request_ids: list[str]) -> dict[str, str]:
        """The body hashes recorded for those of `request_ids` (sorted, distinct) that are recorded."""
        ...

    def places_by_keys(self, conn: sa.Connection, keys: list[str]) -> list[Row]:
        """(key, place_id, name, country, kind, lat, lon, population, aliases) of every recorded
        place with a name key in `keys` (sorted, distinct)."""
        ...

    def stored_hashes_and_places(
        self, conn: sa.Connection, kind: str, request_ids: list[str], keys: list[str]
    ) -> tuple[dict[str, str], list[Row]]:
        """`stored_hashes` and `places_by_keys` together: the report writer's reads of a batch, in
        one round trip where the backend can."""
        ...

    def notify(self, conn: sa.Connection, channel: str, payload: str) -> None:
        """Tell listeners (`hears_notices`) `payload`, prefixed by the schema, when the transaction
        commits; nothing where nobody can listen."""
        ...

    def for_update(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """`query` locking the rows it reads until the transaction ends."""
        ...

    # The read models.

    def one_of(self, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
        """`column IN values`, spelled so that the statement's text is the same for any count."""
        ...

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: Iterable[Sequence[Any]]) -> None:
        """Insert new rows, each its values in the table's column order (JSON columns as Python
        values): the fastest way the database has, for the thousands of rows a batch brings. Rows
        may come from a generator: PostgreSQL takes each as it is made, while it stores the last."""
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
        """Per place, its last unretracted claim before the bound: rows of place_id and
        control_rows.STATE_COLUMNS."""
        ...

    def claims_from(
        self, conn: sa.Connection, claims: sa.Table, spans: dict[str, tuple[Key, Key]], beyond: int | None
    ) -> Sequence[Any]:
        """The unretracted claims of each place from the start of its span through its end, then
        at most `beyond` more after it (None: all; the first ones in time order): rows of
        `claims`, a place's together, in no promised order."""
        ...

    def events_after(
        self, conn: sa.Connection, after: int, limit: int, upto: int | None
    ) -> list[RecordedEvent]:
        """`event_log.read_after`, read the fastest way for a projection that folds them all."""
        ...

    def create_read_models(self, conn: sa.Connection, suffix: str) -> None:
        """An empty set of read-model tables under `suffix` (dropping a leftover one), without
        primary keys and indexes where the backend can add them later (`index_read_models`)."""
        ...

    def index_read_models(self, conn: sa.Connection, suffix: str) -> None:
        """Give a set created without them the live set's primary keys and indexes, and the
        planner's statistics where the planner needs them to use those (PostgreSQL)."""
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


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


# Both backends' JSON columns go through orjson.
JSON_CODEC: dict[str, Any] = {"json_serializer": _dump_json, "json_deserializer": orjson.loads}


def attach(engine: sa.Engine, backend: Backend) -> None:
    """Make every connection `engine` opens carry `backend` (see `backend_of`)."""

    @event.listens_for(engine, "connect")
    def _carry(_dbapi_conn: Any, record: Any) -> None:
        record.info[_KEY] = backend


def backend_of(conn: sa.Connection) -> Backend:
    """The backend of the `Database` that opened `conn`."""
    backend: Backend = conn.info[_KEY]
    return backend
