"""The SQLite backend, the embedded default: plain per-row statements; BEGIN IMMEDIATE already
serialises every writer, so it needs no locks of its own.

Chosen by `Database` for a `sqlite` URL; see `services.store.backend` for the protocol.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite

from services.domain.events import RecordedEvent
from services.store import event_log
from services.store.backend import JSON_CODEC, Row, attach, ignoring_conflicts
from services.store.control_rows import Key, state_columns
from services.store.read_models import tables
from services.store.schema import events, place_names, places, requests

_PLACE_COLUMNS = ("place_id", "name", "country", "kind", "lat", "lon", "population", "aliases")


def create_folder_for(url: str) -> None:
    """Create the folder of the database file (`./var/` on a fresh clone): SQLite creates the file,
    never its folder. Nothing to do for an in-memory database."""
    database = sa.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take over transaction control from the sqlite3 module so BEGIN can be IMMEDIATE.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a report is durable when its answer is sent
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _on_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _number(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    # SQLite serialises writers (BEGIN IMMEDIATE), so numbering streams here cannot race; the
    # position is the table's AUTOINCREMENT rowid, commit-ordered for the same reason.
    streams = {r["stream_id"] for r in rows}
    query = (
        sa.select(events.c.stream_id, sa.func.max(events.c.stream_version))
        .where(events.c.stream_id.in_(streams))
        .group_by(events.c.stream_id)
    )
    versions: dict[str, int] = {row[0]: row[1] for row in conn.execute(query)}
    now = datetime.now(UTC)
    for row in rows:
        versions[row["stream_id"]] = versions.get(row["stream_id"], 0) + 1
        row["stream_version"] = versions[row["stream_id"]]
        row["recorded_at"] = now


@contextlib.contextmanager
def _flocked(path: Path, wait: bool) -> Iterator[bool]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            # Removed while still held, so no one opens it after we let go and finds it free
            # although a runner of the same id (there is none after us) might still come.
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


class SqliteBackend:
    name = "sqlite"

    # Connections: opening the engine, reading, and the locks a process holds.

    def create_engine(self, url: str, pool_size: int) -> sa.Engine:
        create_folder_for(url)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_CODEC)
        attach(engine, self)
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        return engine

    def create_async_engine(self, url: str) -> None:
        return None  # no async driver installed: its readers read in a thread

    def migration_engine(self, url: str) -> sa.Engine:
        create_folder_for(url)
        return sa.create_engine(url, poolclass=sa.pool.NullPool)

    def missing(self, url: str) -> bool:
        database = sa.make_url(url).database
        return bool(database) and database != ":memory:" and not Path(str(database)).exists()

    def read_only(self, conn: sa.Connection) -> sa.Connection:
        # A read transaction of WAL mode sees the file as it was at its first read.
        return conn.execution_options(sqlite_begin="DEFERRED")

    def lock_tables(self, conn: sa.Connection, names: Sequence[str]) -> None:
        pass  # the snapshot is of the whole file, and a replay's swap commits as one

    def hears_notices(self) -> bool:
        return False

    def limit_statements(self, conn: sa.Connection, milliseconds: int) -> None:
        pass  # no statement timeout: a local file answers or fails at once

    def durability_settings(self, conn: sa.Connection) -> tuple[str, str]:
        # The engine sets synchronous=FULL (2) on every connection; EXTRA (3) is stricter.
        level = int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
        return "on", "on" if level >= 2 else "off"

    def server_warnings(self, conn: sa.Connection) -> list[str]:
        return []  # SQLite plans each statement as it is prepared; there is no server to tune

    def by_code_point(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return column  # SQLite compares UTF-8 bytes: code point order already

    @contextlib.contextmanager
    def migration_lock(self, conn: sa.Connection) -> Iterator[None]:
        database = conn.engine.url.database
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

    @contextlib.contextmanager
    def replay_runner_lock(self, engine: sa.Engine, replay_id: str, wait: bool) -> Iterator[bool]:
        # An flock on a file beside the database: the kernel releases it with the process's files.
        database = engine.url.database
        if not database or database == ":memory:":
            yield wait  # an in-memory database lives and dies with its one process: never abandoned
            return
        with _flocked(Path(f"{database}.replay-{replay_id}.lock"), wait) as held:
            yield held

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return ignoring_conflicts(conn, table, sqlite.insert(table), rows)

    def lock_registry(self, conn: sa.Connection) -> None:
        pass  # the writer's BEGIN IMMEDIATE holds the database lock already

    def lock_log(self, conn: sa.Connection) -> None:
        pass  # the writer's BEGIN IMMEDIATE holds the database lock already

    # The log and its requests.

    def append_events(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[Row]:
        if not rows:
            return []
        _number(conn, rows)
        stmt = events.insert().returning(events.c.event_id, events.c.position, events.c.stream_version)
        return [tuple(row) for row in conn.execute(stmt, rows)]

    def claim_requests(self, conn: sa.Connection, kind: str, hashes: dict[str, str]) -> set[str]:
        now = datetime.now(UTC)
        values = [
            {"kind": kind, "request_id": i, "body_hash": hashes[i], "created_at": now} for i in sorted(hashes)
        ]
        return {row["request_id"] for row in self.insert_ignoring_conflicts(conn, requests, values)}

    def claim_and_append(
        self, conn: sa.Connection, kind: str, hashes: dict[str, str], rows: list[dict[str, Any]], commit: bool
    ) -> tuple[set[str], list[Row]]:
        claimed = self.claim_requests(conn, kind, hashes)
        return claimed, self.append_events(conn, [row for row in rows if row["request_id"] in claimed])

    def stored_hashes(self, conn: sa.Connection, kind: str, request_ids: list[str]) -> dict[str, str]:
        query = sa.select(requests.c.request_id, requests.c.body_hash).where(
            requests.c.kind == kind, requests.c.request_id.in_(request_ids)
        )
        return {row.request_id: row.body_hash for row in conn.execute(query)}

    def places_by_keys(self, conn: sa.Connection, keys: list[str]) -> list[Row]:
        query = (
            sa.select(place_names.c.key, *(places.c[name] for name in _PLACE_COLUMNS))
            .join(places, places.c.place_id == place_names.c.place_id)
            .where(place_names.c.key.in_(keys))
        )
        return [tuple(row) for row in conn.execute(query)]

    def stored_hashes_and_places(
        self, conn: sa.Connection, kind: str, request_ids: list[str], keys: list[str]
    ) -> tuple[dict[str, str], list[Row]]:
        return self.stored_hashes(conn, kind, request_ids), self.places_by_keys(conn, keys)

    def notify(self, conn: sa.Connection, channel: str, payload: str) -> None:
        pass  # nobody can listen: readers poll (`hears_notices`)

    def for_update(self, query: sa.Select[Any]) -> sa.Select[Any]:
        return query  # the writer's BEGIN IMMEDIATE holds the database lock already

    # The read models.

    def one_of(self, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
        return column.in_(values)

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: Iterable[Sequence[Any]]) -> None:
        names = [c.name for c in table.columns]
        values = [dict(zip(names, row, strict=True)) for row in rows]
        if values:
            conn.execute(table.insert(), values)

    def update_column(
        self,
        conn: sa.Connection,
        column: sa.Column[Any],
        key: sa.Column[Any],
        pairs: Sequence[tuple[Any, Any]],
    ) -> None:
        if pairs:
            table = column.table
            stmt = (
                table.update()
                .where(key == sa.bindparam("v_key"))
                .values({column.name: sa.bindparam("v_value")})
            )
            conn.execute(stmt, [{"v_key": k, "v_value": v} for k, v in pairs])

    def claims_before(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        c = claims.c
        query = (
            sa.select(c.place_id, *state_columns(claims))
            .order_by(c.occurred_start.desc(), c.position.desc())
            .limit(1)
        )
        found = (
            conn.execute(query.where(*_in_place(c, place), _before(c, bound))).first()
            for place, bound in bounds.items()
        )
        return [row for row in found if row is not None]

    def claims_from(
        self, conn: sa.Connection, claims: sa.Table, spans: dict[str, tuple[Key, Key]], beyond: int | None
    ) -> Sequence[Any]:
        c = claims.c
        query = sa.select(claims).order_by(c.occurred_start, c.position)
        rows: list[Any] = []
        for place, (start, end) in spans.items():
            through = sa.tuple_(c.occurred_start, c.position) <= sa.tuple_(*end)
            rows += conn.execute(query.where(*_in_place(c, place), sa.not_(_before(c, start)), through))
            rows += conn.execute(query.where(*_in_place(c, place), sa.not_(through)).limit(beyond))
        return rows

    def events_after(
        self, conn: sa.Connection, after: int, limit: int, upto: int | None
    ) -> list[RecordedEvent]:
        return event_log.read_after(conn, after, limit, upto)

    def create_read_models(self, conn: sa.Connection, suffix: str) -> None:
        # No roles here: the tables are created from their SQLAlchemy description, always indexed
        # (SQLite cannot add a primary key to a table; the embedded store's logs are small).
        built = tables(suffix)
        built.metadata.drop_all(conn)
        built.metadata.create_all(conn)

    def index_read_models(self, conn: sa.Connection, suffix: str) -> None:
        pass  # created indexed

    def drop_read_models(self, conn: sa.Connection, suffix: str) -> None:
        tables(suffix).metadata.drop_all(conn)

    def swap_read_models(self, conn: sa.Connection, suffix: str, retired: str) -> None:
        # SQLite cannot rename an index; the new set's suffixed index names are harmless.
        for live, built in zip(tables().all, tables(suffix).all, strict=True):
            conn.execute(sa.text(f'ALTER TABLE "{live.name}" RENAME TO "{live.name}{retired}"'))
            conn.execute(sa.text(f'ALTER TABLE "{built.name}" RENAME TO "{live.name}"'))

    def lock_out_readers(self, conn: sa.Connection, live: Sequence[sa.Table]) -> None:
        pass  # the writer's BEGIN IMMEDIATE already keeps every other writer out, and readers see
        # the database as it was until the commit


def _in_place(c: Any, place: str) -> tuple[sa.ColumnElement[bool], ...]:
    return c.place_id == place, c.retracted.is_(False)


def _before(c: Any, bound: Key) -> sa.ColumnElement[bool]:
    return sa.tuple_(c.occurred_start, c.position) < sa.tuple_(*bound)
