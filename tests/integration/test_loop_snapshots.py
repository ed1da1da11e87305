"""Read-only snapshots awaited on the event loop (`LoopSnapshots`, the read API's change feed): on
PostgreSQL on the loop's own thread, through the async driver; on SQLite in a worker thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.combined import create_app
from services.store.database import Database, LoopSnapshots
from services.store.errors import StoreUnavailable
from services.store.read_models import PROJECTION
from tests.support.apps import settings_for

T = TypeVar("T")


def _where_and_what(conn: sa.Connection) -> tuple[int, int]:
    return threading.get_ident(), int(conn.execute(sa.text("SELECT count(*) FROM projections")).scalar_one())


def _read_on_a_loop(url: str, read: Callable[[sa.Connection], T], in_thread: bool = False) -> tuple[int, T]:
    """`read` through a LoopSnapshots of its own, made, used and closed on a new event loop; the
    loop's thread and what `read` returned."""
    db = Database(url)

    async def main() -> tuple[int, T]:
        snapshots = LoopSnapshots(db)
        try:
            return threading.get_ident(), await snapshots.run(read, in_thread=in_thread)
        finally:
            await snapshots.close()

    try:
        return asyncio.run(main())
    finally:
        db.dispose()


def test_on_postgres_a_read_runs_on_the_loop_thread_in_a_read_only_snapshot(fresh_pg_url: str) -> None:
    db = Database(fresh_pg_url)

    async def main() -> tuple[int, tuple[int, int], tuple[int, int]]:
        snapshots = LoopSnapshots(db)
        try:
            before = await snapshots.run(_where_and_what)
            # A write in the snapshot is refused: it is read-only.
            with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                await snapshots.run(
                    lambda conn: conn.execute(
                        sa.text("INSERT INTO projections (name, position) VALUES (:n, 1)"), {"n": PROJECTION}
                    )
                )
            return threading.get_ident(), before, await snapshots.run(_where_and_what)
        finally:
            await snapshots.close()

    try:
        loop_thread, before, after = asyncio.run(main())
    finally:
        db.dispose()
    assert before[0] == loop_thread == after[0]
    assert before[1] == after[1]  # the refused insert left nothing behind


def test_closing_gives_the_connection_back_to_the_server(fresh_pg_url: str) -> None:
    db = Database(fresh_pg_url)

    async def main() -> int:
        snapshots = LoopSnapshots(db)
        try:
            return int(
                await snapshots.run(
                    lambda conn: conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                )
            )
        finally:
            await snapshots.close()

    try:
        pid = asyncio.run(main())
        with db.snapshot() as conn:
            alive = conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            assert alive.scalar_one() == 0
    finally:
        db.dispose()


def test_on_sqlite_a_read_runs_in_a_worker_thread(fresh_sqlite_url: str) -> None:
    loop_thread, (reader_thread, _) = _read_on_a_loop(fresh_sqlite_url, _where_and_what)
    assert reader_thread != loop_thread


def test_an_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreUnavailable):
        _read_on_a_loop("postgresql+psycopg://frontline@127.0.0.1:1/nowhere", _where_and_what)


def test_the_read_app_closes_its_change_feed_engine_when_it_stops(
    fresh_pg_url: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[LoopSnapshots] = []
    close = LoopSnapshots.close

    async def spied(self: LoopSnapshots) -> None:
        await close(self)
        closed.append(self)

    monkeypatch.setattr(LoopSnapshots, "close", spied)
    with TestClient(create_app(settings_for(fresh_pg_url, cache_dir))) as client:
        assert client.get("/v1/contested").status_code == 200
        assert not closed
    assert len(closed) == 1 and closed[0].engine is not None


def test_a_large_read_runs_in_a_worker_thread_even_on_postgres(fresh_pg_url: str) -> None:
    loop_thread, (reader_thread, _) = _read_on_a_loop(fresh_pg_url, _where_and_what, in_thread=True)
    assert reader_thread != loop_thread
