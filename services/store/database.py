"""Engines and transactions: the one place that knows PostgreSQL from SQLite at connect time.

A `Database` is created by each process's entrypoint (app lifespan, worker start, CLI command) and
never at import time; a forked child must create its own (`Database.for_this_process`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from services.store.backend import attach
from services.store.driver_errors import translate
from services.store.postgres import PostgresBackend
from services.store.sqlite import SqliteBackend


class Database:
    """An engine plus the two kinds of transaction the services use."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pid = os.getpid()
        self.engine = _create_engine(url, pool_size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A read-write transaction that commits when the block ends normally, else rolls back.

        On SQLite it begins IMMEDIATE: writers queue for the database lock up front instead of
        failing when a read transaction tries to upgrade.
        """
        with translated(self.url), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self, lock: Sequence[str] = ()) -> Iterator[Connection]:
        """A read-only transaction whose every statement sees the same snapshot of the database.

        `lock` names tables to take ACCESS SHARE locks on before the snapshot is taken: a replay
        swaps the read-model tables under an exclusive lock, and a reader that locked them first
        waits for the swap rather than pairing an old snapshot with the new tables.
        """
        with translated(self.url), self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            else:
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                if lock and self.is_postgres:
                    names = ", ".join(f'"{name}"' for name in lock)
                    conn.execute(sa.text(f"LOCK TABLE {names} IN ACCESS SHARE MODE"))
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Driver errors about reaching the database at `url`, or a table it lacks, become store
    errors (StoreUnavailable, NotMigrated); any other error passes unchanged."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        error = translate(exc, url)
        if error is None:
            raise
        raise error from exc


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


JSON_CODEC: dict[str, Any] = {"json_serializer": _dump_json, "json_deserializer": orjson.loads}


def _create_engine(url: str, pool_size: int) -> Engine:
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url)
    engine = sa.create_engine(
        url,
        **JSON_CODEC,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=False,  # a dropped connection fails one statement and invalidates the pool
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )
    attach(engine, PostgresBackend())

    @event.listens_for(engine, "connect")
    def _in_utc(dbapi_conn: Any, _record: Any) -> None:
        # Times load in the session's zone: west of UTC, 0001-01-01T00:00Z would load as year 0,
        # which Python cannot hold. In UTC every time the services store loads as it was written.
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.autocommit = autocommit

    return engine


def create_folder_for(url: str) -> None:
    """Create the folder of a SQLite file (`./var/` on a fresh clone): SQLite creates the file,
    never its folder. Nothing to do for PostgreSQL or an in-memory database."""
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)


def _create_sqlite_engine(url: str) -> Engine:
    create_folder_for(url)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_CODEC)
    attach(engine, SqliteBackend())

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module so BEGIN can be IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a report is durable when its answer is sent
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
