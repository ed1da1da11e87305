"""The PostgreSQL backend: set-based statements, advisory locks, COPY.

Chosen by `Database` for a `postgresql` URL; see `services.store.backend` for the protocol.

The statements of the write path that run for every batch go straight through psycopg (`_rows`),
in the caller's transaction: SQLAlchemy Core costs about as much CPU per statement as the round
trip itself, and a constant text (arrays bound as one parameter, rows as one JSON array, never a
list spelled out) lets psycopg prepare it once per connection; the batch's two lookups, one index
probe per element, are planned at each run instead (see `_STORED`). Their failures reach callers
as SQLAlchemy's own would (`_raised`).
"""

from __future__ import annotations

import contextlib
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Jsonb
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.domain.events import RecordedEvent, upgrade
from services.store.backend import JSON_CODEC, Row, attach, ignoring_conflicts
from services.store.control_rows import STATE_COLUMNS, Key, state_columns

# Advisory-lock keys; the log's own lock is keyed in migration 0001.
REGISTRY_LOCK = 7340031999998
MIGRATION_LOCK = 7340031999999
# pg_advisory_lock(classid, objid): the class of replay-runner locks (the single bigint keys above
# live in a separate key space).
RUNNER_LOCKS = 734003
LOG_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(7340032000000 + CAST(CAST('events' AS regclass) AS oid)::bigint)"
)

# One constant statement for any number of events: the rows travel as one JSON array, so psycopg
# parses and prepares the text once per connection (a multi-row VALUES list would be a new, long
# text for every batch size, parsed afresh in Python each time). The trigger draws position, stream
# version and recorded_at (migration 0001); rows go in the array's order, so positions follow it.
_INSERT = """
INSERT INTO events (event_id, type, schema_version, stream_id, occurred_at, occurred_precision,
                    occurred_start, request_id, target_event_id, data)
SELECT e.event_id, e.type, e.schema_version, e.stream_id, e.occurred_at, e.occurred_precision,
       e.occurred_start, e.request_id, e.target_event_id, e.data
FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (
    event_id text, type text, schema_version smallint, stream_id text, occurred_at text,
    occurred_precision text, occurred_start timestamptz, request_id text, target_event_id text,
    data jsonb)) WITH ORDINALITY AS e
"""
_APPEND = _INSERT + "ORDER BY e.ordinality RETURNING event_id, position, stream_version"

# The ids go in the order given (WITH ORDINALITY): see `requests.claim_many` on deadlocks.
# Parameters: kind, created_at, the ids and their hashes (two arrays).
_CLAIM = (
    "INSERT INTO requests (kind, request_id, body_hash, created_at)"
    " SELECT %s, u.request_id, u.body_hash, %s"
    " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(request_id, body_hash, n) ORDER BY u.n"
    " ON CONFLICT DO NOTHING RETURNING request_id"
)

# Claiming the requests and appending their events in one statement: the events of a request not
# claimed now (recorded before, or by a concurrent transaction this one waited for) are filtered out
# by the claim's own RETURNING. ARRAY() makes the claim an init plan, run to completion before the
# first event row reaches the insert: every wait on a concurrent duplicate happens before this
# transaction takes the log's lock (the trigger's, at the first row), as with two statements.
_CLAIM_AND_APPEND = (
    f"WITH claimed AS ({_CLAIM}), appended AS ({_INSERT}"  # noqa: S608 (constants only)
    " WHERE e.request_id = ANY (ARRAY(SELECT request_id FROM claimed))"
    " ORDER BY e.ordinality RETURNING event_id, position, stream_version)"
    " SELECT request_id, NULL, NULL, NULL FROM claimed"
    " UNION ALL SELECT NULL, event_id, position, stream_version FROM appended"
)

# The batch's reads look each id and name up by its own index probe (a LATERAL subquery per
# element; LIMIT 1 and OFFSET 0 keep the planner from flattening it into a join). As
# `request_id = ANY(...)` on a table without statistics (never analyzed: this machine's server
# runs without autovacuum, and a new database has none in its first minute), the planner took
# `kind` alone as the index condition and read every report recorded at each batch, whether the
# plan was made at each run or kept from when the table was empty; the names lookup hashed every
# place. 1-claim reports went 807-1,056 a second with PostgreSQL at 0.74-0.92 cores; with the
# probes 1,504-1,988 and 0.32, as after an ANALYZE (docs/performance-notes.md, fourteenth stop).
# They are never prepared either, so that no generic plan made on a nearly empty table is kept
# (planning them: a few tens of microseconds a batch).
# Parameters: the ids (text[]), the kind.
_STORED = (
    "SELECT r.request_id, r.body_hash FROM unnest(%s::text[]) AS u(request_id)"
    " CROSS JOIN LATERAL (SELECT request_id, body_hash FROM requests"
    " WHERE kind = %s AND request_id = u.request_id LIMIT 1) AS r"
)
# Parameters: the name keys (text[]).
_PLACES = (
    "SELECT u.key, p.place_id, p.name, p.country, p.kind, p.lat, p.lon, p.population, p.aliases"
    " FROM unnest(%s::text[]) AS u(key) CROSS JOIN LATERAL (SELECT p.* FROM place_names n"
    " JOIN places p ON p.place_id = n.place_id WHERE n.key = u.key OFFSET 0) AS p"
)
_UNPREPARED = frozenset({_STORED, _PLACES})


def _in_utc(dbapi_conn: Any, _record: Any) -> None:
    # Times load in the session's zone: west of UTC, 0001-01-01T00:00Z would load as year 0,
    # which Python cannot hold. In UTC every time the services store loads as it was written.
    # Through a cursor: the async driver's connection, as SQLAlchemy adapts it, has no `execute`.
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    cursor = dbapi_conn.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_conn.autocommit = autocommit


def _claim_params(kind: str, hashes: dict[str, str]) -> tuple[Any, ...]:
    ids = sorted(hashes)
    return kind, datetime.now(UTC), ids, [hashes[i] for i in ids]


def _json(rows: list[dict[str, Any]]) -> Jsonb:
    # orjson's bytes go to the server as they are (no str round trip for a 1000-row array).
    return Jsonb(rows, dumps=orjson.dumps)


def _driver(conn: sa.Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under `conn`, in the transaction SQLAlchemy began on it."""
    return cast(psycopg.Connection[Any], conn.connection.driver_connection)


def _rows(conn: sa.Connection, query: str, params: Sequence[Any], *, commit: bool = False) -> list[Row]:
    """Run one statement through psycopg in the caller's transaction: its rows, if it has any.

    `commit` sends COMMIT in the same round trip (psycopg's pipeline mode), ending the caller's
    transaction; if the statement fails, the pipeline skips the COMMIT and the failure is raised.
    """
    driver = _driver(conn)
    try:
        if not commit:
            return _fetched(_execute(driver, query, params))
        with driver.pipeline():
            cursor = _execute(driver, query, params)
            driver.commit()
        return _fetched(cursor)
    except psycopg.Error as exc:
        _raised(conn, exc, query, params)


def _pipelined(conn: sa.Connection, statements: list[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
    """Each statement's rows, all sent in one round trip (psycopg's pipeline mode)."""
    driver = _driver(conn)
    try:
        with driver.pipeline():
            cursors = [_execute(driver, query, params) for query, params in statements]
        return [_fetched(cursor) for cursor in cursors]
    except psycopg.Error as exc:
        _raised(conn, exc, "; ".join(query for query, _ in statements), None)


def _execute(driver: psycopg.Connection[Any], query: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
    return driver.execute(query, params, prepare=False if query in _UNPREPARED else None)


def _fetched(cursor: psycopg.Cursor[Any]) -> list[Row]:
    return cursor.fetchall() if cursor.description else []


def _raised(
    conn: sa.Connection, exc: psycopg.Error, statement: str, params: Sequence[Any] | None
) -> NoReturn:
    """Raise `exc` as `conn.execute` would: wrapped in SQLAlchemy's DBAPIError subclass for it, and
    when the connection is lost, that connection invalidated and the pool's others with it (they
    were most likely lost together: a server restart), so that the next checkout connects afresh."""
    driver = _driver(conn)
    lost = driver.closed or driver.broken
    error = sa.exc.DBAPIError.instance(
        statement, params, exc, psycopg.Error, connection_invalidated=lost, dialect=conn.dialect
    )
    if lost:
        conn.invalidate(exc)
        conn.engine.dispose()
    raise error from exc


class PostgresBackend:
    name = "postgresql"

    # Connections: opening the engine, reading, and the locks a process holds.

    def create_engine(self, url: str, pool_size: int) -> sa.Engine:
        engine = sa.create_engine(
            url,
            **JSON_CODEC,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_pre_ping=False,  # a dropped connection fails one statement and invalidates the pool
            pool_recycle=1800,
            connect_args={"connect_timeout": 5},
        )
        attach(engine, self)
        event.listen(engine, "connect", _in_utc)
        return engine

    def create_async_engine(self, url: str) -> AsyncEngine:
        engine = create_async_engine(
            url,
            **JSON_CODEC,
            pool_size=1,
            max_overflow=0,
            pool_recycle=1800,
            connect_args={"connect_timeout": 5},
        )
        attach(engine.sync_engine, self)
        event.listen(engine.sync_engine, "connect", _in_utc)
        return engine

    def migration_engine(self, url: str) -> sa.Engine:
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})

    def missing(self, url: str) -> bool:
        return False

    def read_only(self, conn: sa.Connection) -> sa.Connection:
        return conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)

    def lock_tables(self, conn: sa.Connection, names: Sequence[str]) -> None:
        if names:
            quoted = ", ".join(f'"{name}"' for name in names)
            conn.execute(sa.text(f"LOCK TABLE {quoted} IN ACCESS SHARE MODE"))

    def hears_notices(self) -> bool:
        return True

    def limit_statements(self, conn: sa.Connection, milliseconds: int) -> None:
        conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))

    def durability_settings(self, conn: sa.Connection) -> tuple[str, str]:
        row = conn.execute(sa.text("SELECT current_setting('fsync'), current_setting('synchronous_commit')"))
        fsync, synchronous_commit = row.one()
        return str(fsync), str(synchronous_commit)

    def server_warnings(self, conn: sa.Connection) -> list[str]:
        # Autovacuum does nothing without the statistics track_counts collects.
        query = "SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on'"
        if conn.execute(sa.text(query)).scalar_one():
            return []
        # Found by the bench (docs/performance-notes.md, eighth stop): a plan a connection keeps
        # for a statement it prepared while a table was small is made again only when the table
        # is analyzed.
        return [
            "autovacuum is off on this PostgreSQL server (or track_counts, which it needs): the tables"
            " are never analyzed, and query plans made while they were small are kept as they grow"
            " (reports get slower and slower); turn it on (README: Operations)"
        ]

    def by_code_point(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        # Under en_US, PostgreSQL puts "albu-kamal-sy" before "al-qaim-iq"; "C" compares code points.
        return sa.collate(column, "C")

    @contextlib.contextmanager
    def migration_lock(self, conn: sa.Connection) -> Iterator[None]:
        # Session-level, on the connection that migrates: the server frees it if the process dies.
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()

    @contextlib.contextmanager
    def replay_runner_lock(self, engine: sa.Engine, replay_id: str, wait: bool) -> Iterator[bool]:
        # Session-level, on a connection of its own, idle while the replay works: its server
        # process sees the client's socket close the moment the runner dies.
        key = {"cls": RUNNER_LOCKS, "obj": zlib.crc32(replay_id.encode()) - 2**31}  # an int4
        with engine.connect() as conn:
            take = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            held = conn.execute(sa.text(f"SELECT {take}(:cls, :obj)"), key).scalar() is not False
            conn.commit()  # session-level: outlives the transaction, idle from here on
            try:
                yield held
            finally:
                if held:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:cls, :obj)"), key)
                    conn.commit()

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return ignoring_conflicts(conn, table, postgresql.insert(table), rows)

    def lock_registry(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK})

    def lock_log(self, conn: sa.Connection) -> None:
        # The lock every append takes (the events trigger's, keyed by the table's oid).
        conn.execute(LOG_LOCK)

    # The log and its requests.

    def append_events(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[Row]:
        return _rows(conn, _APPEND, (_json(rows),))

    def claim_requests(self, conn: sa.Connection, kind: str, hashes: dict[str, str]) -> set[str]:
        return {row[0] for row in _rows(conn, _CLAIM, _claim_params(kind, hashes))}

    def claim_and_append(
        self, conn: sa.Connection, kind: str, hashes: dict[str, str], rows: list[dict[str, Any]], commit: bool
    ) -> tuple[set[str], list[Row]]:
        # One statement; with `commit`, its COMMIT goes in the same round trip.
        params = (*_claim_params(kind, hashes), _json(rows))
        returned = _rows(conn, _CLAIM_AND_APPEND, params, commit=commit)
        claimed = {request_id for request_id, *_ in returned if request_id is not None}
        return claimed, [row[1:] for row in returned if row[0] is None]

    def stored_hashes(self, conn: sa.Connection, kind: str, request_ids: list[str]) -> dict[str, str]:
        return {row[0]: row[1] for row in _rows(conn, _STORED, (request_ids, kind))}

    def places_by_keys(self, conn: sa.Connection, keys: list[str]) -> list[Row]:
        return _rows(conn, _PLACES, (keys,))

    def stored_hashes_and_places(
        self, conn: sa.Connection, kind: str, request_ids: list[str], keys: list[str]
    ) -> tuple[dict[str, str], list[Row]]:
        stored, found = _pipelined(conn, [(_STORED, (request_ids, kind)), (_PLACES, (keys,))])
        return {row[0]: row[1] for row in stored}, found

    def notify(self, conn: sa.Connection, channel: str, payload: str) -> None:
        conn.execute(
            sa.text("SELECT pg_notify(:channel, current_schema() || :payload)"),
            {"channel": channel, "payload": payload},
        )

    def for_update(self, query: sa.Select[Any]) -> sa.Select[Any]:
        return query.with_for_update()

    # The read models.

    def one_of(self, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
        # One array parameter: the same text for any count, prepared once per connection.
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: Iterable[Sequence[Any]]) -> None:
        # Binary COPY, several times faster than INSERT: psycopg writes each value in C as the
        # column's own type (asked of the server: in binary, PostgreSQL casts nothing), JSON by orjson.
        if isinstance(rows, Sequence) and not rows:
            return
        names = ", ".join(c.name for c in table.columns)
        driver = _driver(conn)
        with driver.cursor() as cursor:
            cursor.adapters.register_dumper(None, _BinaryJsonb)
            types = _column_types(driver, cursor, table.name, names)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    def update_column(
        self,
        conn: sa.Connection,
        column: sa.Column[Any],
        key: sa.Column[Any],
        pairs: Sequence[tuple[Any, Any]],
    ) -> None:
        # The pairs travel as one JSON array: one constant statement, no array of values to escape.
        if not pairs:
            return
        value_type = column.type.dialect_impl(conn.dialect).compile(dialect=conn.dialect)
        conn.execute(
            sa.text(
                f"UPDATE {column.table.name} t SET {column.name} = v.value "  # noqa: S608
                f"FROM jsonb_to_recordset(:pairs) AS v(key text, value {value_type}) "
                f"WHERE t.{key.name} = v.key"
            ),
            {"pairs": Jsonb([{"key": k, "value": v} for k, v in pairs], dumps=orjson.dumps)},
        )

    def claims_before(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        return conn.execute(
            sa.text(
                f"SELECT b.place_id, {_columns('c.', STATE_COLUMNS)} FROM {_BOUNDS} "  # noqa: S608
                f"JOIN LATERAL (SELECT {_columns('', STATE_COLUMNS)} FROM {claims.name} c "
                "WHERE c.place_id = b.place_id AND NOT c.retracted "
                "AND (c.occurred_start, c.position) < (b.s, b.pos) "
                "ORDER BY c.occurred_start DESC, c.position DESC LIMIT 1) c ON true"
            ).columns(sa.column("place_id"), *state_columns(claims)),
            _bound_params(bounds),
        ).all()

    def claims_from(
        self, conn: sa.Connection, claims: sa.Table, spans: dict[str, tuple[Key, Key]], beyond: int | None
    ) -> Sequence[Any]:
        # Two index ranges per place, each in order: the span, and what follows it (LIMIT NULL:
        # all). A place's rows come together; callers sort them (UNION ALL promises no order).
        key, place = "(c.occurred_start, c.position)", "c.place_id = b.place_id AND NOT c.retracted"
        order = "ORDER BY c.occurred_start, c.position"
        return conn.execute(
            sa.text(
                f"SELECT c.* FROM {_SPANS} JOIN LATERAL ("  # noqa: S608
                f"(SELECT * FROM {claims.name} c WHERE {place} AND {key} >= (b.s, b.pos) "
                f"AND {key} <= (b.es, b.epos) {order}) UNION ALL "
                f"(SELECT * FROM {claims.name} c WHERE {place} AND {key} > (b.es, b.epos) {order} "
                "LIMIT :beyond)) c ON true"
            ).columns(*claims.c),
            {**_span_params(spans), "beyond": beyond},
        ).all()

    def events_after(
        self, conn: sa.Connection, after: int, limit: int, upto: int | None
    ) -> list[RecordedEvent]:
        # A constant text run by psycopg itself, each row a plain tuple: less than half the time of
        # the same SELECT built and typed by SQLAlchemy, for the hundreds of thousands a catch-up reads.
        params = (after, _NO_LIMIT if upto is None else upto, limit)
        return [_recorded(*row) for row in _rows(conn, _EVENTS_AFTER, params)]

    def create_read_models(self, conn: sa.Connection, suffix: str) -> None:
        # The services' role may not create tables (migration 0007: CREATE on the log's schema would
        # let it plant functions): the migrations' SECURITY DEFINER functions copy the live set's
        # definition and touch nothing but read-model tables.
        conn.execute(sa.text("SELECT frontline_read_models_create_bare(:suffix)"), {"suffix": suffix})

    def index_read_models(self, conn: sa.Connection, suffix: str) -> None:
        # Built in bulk after a rebuild's COPY: three times faster than maintained row by row
        # (migration 0009).
        conn.execute(sa.text("SELECT frontline_read_models_index(:suffix)"), {"suffix": suffix})
        # And the planner's statistics, before the set is swapped in: autovacuum gathers them only
        # a while later (never, where it is off), and until then the planner guesses from the
        # tables' sizes; without them the read API's change-feed query scanned every place. Only
        # the tables' owner may analyze them (migration 0010).
        conn.execute(sa.text("SELECT frontline_read_models_analyze(:suffix)"), {"suffix": suffix})

    def drop_read_models(self, conn: sa.Connection, suffix: str) -> None:
        conn.execute(sa.text("SELECT frontline_read_models_drop(:suffix)"), {"suffix": suffix})

    def swap_read_models(self, conn: sa.Connection, suffix: str, retired: str) -> None:
        # The new set's indexes and keys take the live names too.
        conn.execute(
            sa.text("SELECT frontline_read_models_swap(:suffix, :retired)"),
            {"suffix": suffix, "retired": retired},
        )

    def lock_out_readers(self, conn: sa.Connection, live: Sequence[sa.Table]) -> None:
        # Readers take ACCESS SHARE on the read models before their snapshot (Database.snapshot's
        # `lock`), so from here they wait for the caller's commit instead of reading across it.
        names = ", ".join(f'"{t.name}"' for t in live)
        conn.execute(sa.text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))


_EVENTS_AFTER = (
    "SELECT position, event_id, type, stream_id, stream_version, occurred_at, occurred_start,"
    " recorded_at, request_id, target_event_id, schema_version, data FROM events"
    " WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
)
_NO_LIMIT = 2**63 - 1


def _columns(prefix: str, names: Sequence[str]) -> str:
    return ", ".join(prefix + name for name in names)


# Each place with its bound, as a set to join the claims with.
_BOUNDS = (
    "unnest(CAST(:places AS text[]), CAST(:starts AS timestamptz[]), CAST(:positions AS bigint[]))"
    " AS b(place_id, s, pos)"
)


_SPANS = (
    "unnest(CAST(:places AS text[]), CAST(:starts AS timestamptz[]), CAST(:positions AS bigint[]),"
    " CAST(:end_starts AS timestamptz[]), CAST(:end_positions AS bigint[])) AS b(place_id, s, pos, es, epos)"
)


def _span_params(spans: dict[str, tuple[Key, Key]]) -> dict[str, list[Any]]:
    places = list(spans)
    return {
        "places": places,
        "starts": [spans[p][0][0] for p in places],
        "positions": [spans[p][0][1] for p in places],
        "end_starts": [spans[p][1][0] for p in places],
        "end_positions": [spans[p][1][1] for p in places],
    }


def _bound_params(bounds: dict[str, Key]) -> dict[str, list[Any]]:
    places = list(bounds)
    return {
        "places": places,
        "starts": [bounds[p][0] for p in places],
        "positions": [bounds[p][1] for p in places],
    }


def _recorded(
    position: int, event_id: str, type: str, stream_id: str, stream_version: int, occurred_at: str | None,
    occurred_start: datetime | None, recorded_at: datetime, request_id: str | None,
    target_event_id: str | None, schema_version: int, data: dict[str, Any],
) -> RecordedEvent:  # fmt: skip
    return RecordedEvent(
        position, event_id, type, stream_id, stream_version, occurred_at, occurred_start, recorded_at,
        request_id, target_event_id, upgrade(type, schema_version, data),
    )  # fmt: skip


# The column types binary COPY is told, per connection and table: asked of the server once rather
# than before every COPY (a projection step of one event makes three COPYs). Per connection, since
# a table's name means what the connection's database and search_path make of it. Code whose
# tables' column types a migration changes is new code: its processes connect afresh.
_TYPES: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[tuple[str, str], list[int]]] = (
    weakref.WeakKeyDictionary()
)


def _column_types(
    driver: psycopg.Connection[Any], cursor: psycopg.Cursor[Any], table: str, names: str
) -> list[int]:
    known = _TYPES.setdefault(driver, {})
    if (table, names) not in known:
        cursor.execute(f"SELECT {names} FROM {table} LIMIT 0")  # noqa: S608
        known[(table, names)] = [column.type_code for column in cursor.description or ()]
    return known[(table, names)]


class _BinaryJsonb(Dumper):
    """A jsonb value in COPY's binary format: a version byte and the JSON as orjson writes it (one
    call a value, where psycopg's own dumper makes two)."""

    format = Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + orjson.dumps(obj)
