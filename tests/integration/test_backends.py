"""Both backends answer the store's `Backend` protocol alike: each method of its connection, log and
requests sections, on PostgreSQL and SQLite (the `db` fixture runs every test on both)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from services.domain.places import Place
from services.projector import runner
from services.store import checkpoints, event_log, places, postgres
from services.store.backend import Backend, backend_of
from services.store.database import Database, backend_for
from services.store.errors import StoreUnavailable
from services.store.read_models import projections, tables
from services.store.schema import events, requests
from tests.support.events import claim_retracted, control_changed

KIND = "report"


def row(event_id: str, stream: str, request_id: str | None = None) -> dict[str, Any]:
    """An event row as `event_log` hands it to the backend."""
    return {
        "event_id": event_id,
        "type": "ControlChanged",
        "schema_version": 1,
        "stream_id": stream,
        "occurred_at": "2017-11-08",
        "occurred_precision": "day",
        "occurred_start": datetime(2017, 11, 8, tzinfo=UTC),
        "request_id": request_id,
        "target_event_id": None,
        "data": {"place_id": stream},
    }


def test_the_database_carries_the_backend_its_url_names(db: Database) -> None:
    assert db.backend.name == backend_for(db.url).name == db.engine.dialect.name
    with db.snapshot() as conn:
        assert backend_of(conn) is db.backend


def test_append_events_numbers_positions_and_streams_in_row_order(db: Database) -> None:
    with db.transaction() as conn:
        first = db.backend.append_events(conn, [row("e1", "a"), row("e2", "b"), row("e3", "a")])
        second = db.backend.append_events(conn, [row("e4", "a")])
        assert db.backend.append_events(conn, []) == []
    returned = [tuple(r) for r in first + second]
    assert [r[0] for r in returned] == ["e1", "e2", "e3", "e4"]
    assert [r[1] for r in returned] == sorted(r[1] for r in returned)
    assert [r[2] for r in returned] == [1, 1, 2, 3]


def test_claim_requests_records_each_id_once(db: Database) -> None:
    with db.transaction() as conn:
        assert db.backend.claim_requests(conn, KIND, {"r2": "h2", "r1": "h1"}) == {"r1", "r2"}
        assert db.backend.claim_requests(conn, KIND, {"r1": "other", "r3": "h3"}) == {"r3"}
        assert db.backend.claim_requests(conn, "correction", {"r1": "h1"}) == {"r1"}
    with db.snapshot() as conn:
        stored = db.backend.stored_hashes(conn, KIND, ["r1", "r2", "r3", "r4"])
    assert stored == {"r1": "h1", "r2": "h2", "r3": "h3"}


@pytest.mark.parametrize("commit", [False, True])
def test_claim_and_append_appends_only_the_rows_of_requests_claimed_now(db: Database, commit: bool) -> None:
    with db.transaction() as conn:
        db.backend.claim_requests(conn, KIND, {"old": "h"})
    with db.transaction() as conn:
        claimed, returned = db.backend.claim_and_append(
            conn,
            KIND,
            {"old": "h", "new": "h"},
            [row("e1", "a", "old"), row("e2", "a", "new"), row("e3", "b", "new")],
            commit,
        )
    assert claimed == {"new"}
    assert sorted((r[0], r[2]) for r in returned) == [("e2", 1), ("e3", 1)]
    with db.snapshot() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one() == 2


def test_a_write_after_the_append_that_commits_still_commits(db: Database) -> None:
    with db.transaction() as conn:
        db.backend.claim_and_append(conn, KIND, {"r": "h"}, [row("e1", "a", "r")], commit=True)
        db.backend.claim_requests(conn, "correction", {"later": "h"})
    with db.snapshot() as conn:
        assert db.backend.stored_hashes(conn, "correction", ["later"]) == {"later": "h"}


def test_places_by_keys_and_with_the_stored_hashes(db: Database) -> None:
    rawah = Place("rawah-iq", "Rawah", "IQ", aliases=("Rawa",))
    with db.transaction() as conn:
        places.add(conn, rawah, "registered")
        db.backend.claim_requests(conn, KIND, {"r1": "h1"})
    with db.snapshot() as conn:
        found = db.backend.places_by_keys(conn, ["rawa", "rawah", "nowhere"])
        stored, together = db.backend.stored_hashes_and_places(conn, KIND, ["r1", "r2"], ["rawa", "rawah"])
        assert places.find_by_keys(conn, ["rawah"]) == {"rawah": [rawah]}
        assert places.stored_hashes_and_places(conn, KIND, ["r1"], ["rawa"]) == (
            {"r1": "h1"},
            {"rawa": [rawah]},
        )
    expected = [
        (key, "rawah-iq", "Rawah", "IQ", "town", None, None, None, ["Rawa"]) for key in ("rawa", "rawah")
    ]
    assert sorted(tuple(r) for r in found) == expected
    assert stored == {"r1": "h1"} and sorted(tuple(r) for r in together) == expected


def test_an_empty_read_reads_nothing(db: Database) -> None:
    with db.snapshot() as conn:
        assert db.backend.stored_hashes_and_places(conn, KIND, [], []) == ({}, [])


def test_checkpoint_locks_and_notices_go_through_the_backend(db: Database) -> None:
    with db.transaction() as conn:
        checkpoint = checkpoints.lock(conn, "p")
        checkpoints.advance(conn, checkpoint, 7)
        db.backend.notify(conn, checkpoints.NOTIFY_CHANNEL, ":p:0:7")
        query = sa.select(projections.c.position).where(projections.c.name == "p")
        locked = conn.execute(db.backend.for_update(query)).scalar_one()
    assert locked == 7


def test_the_log_and_registry_locks_are_taken_in_a_write(db: Database) -> None:
    with db.transaction() as conn:
        db.backend.lock_registry(conn)
        db.backend.lock_log(conn)
        db.backend.append_events(conn, [row("e1", "a")])


def test_a_snapshot_reads_with_its_limits(db: Database) -> None:
    with db.snapshot(lock=["events"]) as conn:
        db.backend.limit_statements(conn, 2000)
        assert db.backend.durability_settings(conn) == ("on", "on")
        ordered = sa.select(sa.literal("b", sa.String()).label("x")).union_all(
            sa.select(sa.literal("B", sa.String()))
        )
        column = db.backend.by_code_point(ordered.subquery().c.x)
        assert conn.execute(sa.select(column).order_by(column)).scalars().all() == ["B", "b"]
    assert db.backend.hears_notices() is (db.backend.name == "postgresql")


def test_the_migration_engine_and_lock(db: Database) -> None:
    assert not db.backend.missing(db.url)
    engine = db.backend.migration_engine(db.url)
    try:
        with engine.connect() as conn, db.backend.migration_lock(conn):
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_replay_runner_lock_is_held_once(db: Database) -> None:
    outcome: list[bool] = []
    with db.backend.replay_runner_lock(db.engine, "r1", wait=True) as held:
        other = threading.Thread(target=lambda: _try(db.backend, db, "r1", outcome))
        other.start()
        other.join()
        assert held and outcome == [False]
    _try(db.backend, db, "r1", outcome)
    assert outcome == [False, True]


def _try(backend: Backend, db: Database, replay_id: str, outcome: list[bool]) -> None:
    with backend.replay_runner_lock(db.engine, replay_id, wait=False) as held:
        outcome.append(held)


def test_a_missing_sqlite_file_is_missing(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/none/frontline.db"
    assert backend_for(url).missing(url)
    assert not backend_for("postgresql://nowhere/x").missing("postgresql://nowhere/x")


@pytest.mark.postgres
def test_a_failed_raw_statement_is_raised_as_sqlalchemy_raises_it(fresh_pg_db: Database) -> None:
    db = fresh_pg_db
    with pytest.raises(sa.exc.DBAPIError) as raised, db.transaction() as conn:
        db.backend.append_events(conn, [{**row("e1", "a"), "occurred_start": "not a time"}])
    assert not raised.value.connection_invalidated
    with db.snapshot() as conn:  # the pool's connection is usable again
        assert db.backend.stored_hashes(conn, KIND, ["r"]) == {}


@pytest.mark.postgres
def test_a_lost_connection_invalidates_it_and_is_a_store_unavailable(fresh_pg_db: Database) -> None:
    db = fresh_pg_db
    with pytest.raises(StoreUnavailable), db.transaction() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with db.engine.connect() as killer:
            killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.backend.stored_hashes_and_places(conn, KIND, ["r"], ["k"])
    with db.transaction() as conn:  # the next transaction connects afresh
        assert db.backend.claim_requests(conn, KIND, {"r": "h"}) == {"r"}


@pytest.mark.postgres
def test_the_batch_reads_probe_an_index_whatever_the_tables_statistics(fresh_pg_db: Database) -> None:
    # Planned on tables never analyzed, or kept from when they were empty, `request_id = ANY(...)`
    # read every request of its kind at each batch of reports (docs/performance-notes.md,
    # fourteenth stop). The schema is new: nothing has analyzed its tables.
    db = fresh_pg_db
    with db.transaction() as conn:
        for _ in range(10):  # on an empty table; psycopg prepares what it runs five times
            db.backend.stored_hashes_and_places(conn, KIND, ["r1"], ["rawa"])
        conn.execute(
            sa.text(
                "INSERT INTO requests (kind, request_id, body_hash, created_at)"
                " SELECT :kind, 'r' || i, 'h', now() FROM generate_series(1, 20000) AS i"
            ),
            {"kind": KIND},
        )
        places.add(conn, Place("rawah-iq", "Rawah", "IQ", aliases=("Rawa",)), "registered")
        wanted = [f"r{i}" for i in range(1, 9)]
        stored, found = db.backend.stored_hashes_and_places(conn, KIND, [*wanted, "nowhere"], ["rawa"])
        prepared = conn.execute(
            sa.text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%unnest(%'")
        ).scalar_one()
        ids_read = _buffers_read(conn, postgres._STORED, (wanted, KIND))
    assert stored == dict.fromkeys(wanted, "h")
    assert [tuple(r)[:2] for r in found] == [("rawa", "rawah-iq")]
    assert prepared == 0  # neither lookup: planned at each run, by what the tables hold now
    # An index probe per id: a few pages each (reading every request of the kind: 257).
    assert ids_read < 60, ids_read


def _buffers_read(conn: sa.Connection, query: str, params: tuple[Any, ...]) -> int:
    """The pages `query` reads (shared buffers hit or read), by EXPLAIN (ANALYZE, BUFFERS)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    (plan,) = driver.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params).fetchone()[0]
    return int(plan["Plan"]["Shared Hit Blocks"]) + int(plan["Plan"]["Shared Read Blocks"])


def test_claims_from_reads_a_span_and_a_few_beyond(db: Database) -> None:
    """The stored claims a re-fold reads: every one of a place's span, then at most `beyond`
    after it (None: all), a retracted one never (services.store.control_store.ControlReader)."""
    place, other = f"p-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    history = [control_changed(place, "saa", 100, f"2017-0{m}") for m in range(1, 8)]
    withdrawn = history[4]
    with db.transaction() as conn:
        event_log.append(conn, [*history, control_changed(other, "is", 100, "2017-03")])
    with db.transaction() as conn:
        event_log.append(conn, [claim_retracted(withdrawn, place)])
    runner.catch_up(db)
    claims = tables().claims
    with db.snapshot() as conn:
        key = {r.event_id: (r.occurred_start, r.position) for r in conn.execute(sa.select(claims))}
        span = {place: (key[history[1].event_id], key[history[2].event_id])}

        def read(beyond: int | None) -> list[str]:
            rows = db.backend.claims_from(conn, claims, span, beyond)
            return [r.event_id for r in sorted(rows, key=lambda r: (r.occurred_start, r.position))]

        ids = [e.event_id for e in history]
        assert read(2) == [ids[1], ids[2], ids[3], ids[5]]  # the retracted fifth is skipped
        assert read(None) == [ids[1], ids[2], ids[3], ids[5], ids[6]]
        assert read(0) == [ids[1], ids[2]]
