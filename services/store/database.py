"""Engines and transactions: the one place that picks the backend, when it opens the database.

A `Database` is created by each process's entrypoint (app lifespan, worker start, CLI command) and
never at import time; a forked child must create its own (`Database.for_this_process`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.store.backend import Backend
from services.store.driver_errors import translate
from services.store.postgres import PostgresBackend
from services.store.sqlite import SqliteBackend


def backend_for(url: str) -> Backend:
    """The backend of the database at `url`: the one choice of it, made when a database is opened."""
    return SqliteBackend() if sa.make_url(url).get_backend_name() == "sqlite" else PostgresBackend()


class Database:
    """An engine plus the two kinds of transaction the services use."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pid = os.getpid()
        self.backend = backend_for(url)
        self.engine = self.backend.create_engine(url, pool_size)

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
            conn = self.backend.read_only(conn)
            with conn.begin():
                self.backend.lock_tables(conn, lock)
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
