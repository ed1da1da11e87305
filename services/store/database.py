"""Engines and transactions: the one place that picks the backend, when it opens the database.

A `Database` is created by each process's entrypoint (app lifespan, worker start, CLI command) and
never at import time; a forked child must create its own (`Database.for_this_process`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.store.backend import Backend
from services.store.driver_errors import translate
from services.store.postgres import PostgresBackend
from services.store.sqlite import SqliteBackend

T = TypeVar("T")


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
        with translated(self.url), self.engine.connect() as conn, self.snapshot_on(conn, lock) as snapshot:
            yield snapshot

    @contextmanager
    def snapshot_on(self, conn: Connection, lock: Sequence[str] = ()) -> Iterator[Connection]:
        """`snapshot`'s transaction on a connection the caller holds (an async engine's, say)."""
        conn = self.backend.read_only(conn)
        with conn.begin():
            self.backend.lock_tables(conn, lock)
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


class LoopSnapshots:
    """Read-only snapshots of `db` awaited on the event loop that made this object.

    On PostgreSQL they run on the loop itself, through the async driver (SQLAlchemy's `run_sync`:
    the same synchronous reading code, its round trips awaited). A read in a worker thread hands
    the GIL to and from the loop at every round trip, and on a busy machine each handoff leaves
    both threads waiting for the OS to run the other: the read API's change feed, read so 30 times
    a second while 200 reports a second arrive, cost its pollers a tenth of their requests
    (docs/performance-notes.md, fifth stop). A large read (`in_thread`: thousands of rows to make
    into Python) runs in a worker thread all the same, so that it does not hold the loop from
    requests for its whole length; so does every read on SQLite, which has no async driver here.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.backend.create_async_engine(db.url)
        self._in_thread_lock = threading.Lock()  # held by a worker thread's read in flight

    async def run(self, read: Callable[[Connection], T], in_thread: bool = False) -> T:
        """`read(conn)` in a read-only snapshot."""
        if self.engine is None or in_thread:
            return await asyncio.to_thread(self._in_thread, read)
        with translated(self.db.url):
            async with self.engine.connect() as conn:
                return await conn.run_sync(self._in_snapshot, read)

    def _in_snapshot(self, conn: Connection, read: Callable[[Connection], T]) -> T:
        with self.db.snapshot_on(conn) as snapshot:
            return read(snapshot)

    def _in_thread(self, read: Callable[[Connection], T]) -> T:
        with self._in_thread_lock, self.db.snapshot() as conn:
            return read(conn)

    def wait_for_threads(self, timeout: float) -> None:
        """Wait (at most `timeout`) for a worker thread's read in flight: cancelling the task that
        awaits it leaves it running, and no query may outlive its owner's stop."""
        if self._in_thread_lock.acquire(timeout=timeout):
            self._in_thread_lock.release()

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


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
