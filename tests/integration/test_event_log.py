"""The event store's contract, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.domain.occurred import parse_occurred
from services.store import event_log, requests
from services.store.database import Database
from services.store.event_log import NewEvent
from services.store.schema import events


def new(stream: str, n: int = 0) -> NewEvent:
    return NewEvent(
        type="ControlChanged",
        stream_id=stream,
        data={"n": n, "place_id": stream},
        occurred=parse_occurred("2017-11-08"),
        request_id=f"r-{stream}",
    )


def test_append_assigns_increasing_positions_and_per_stream_versions(db: Database) -> None:
    with db.transaction() as conn:
        first = event_log.append(conn, [new("a", 1), new("b", 2), new("a", 3)])
    with db.transaction() as conn:
        second = event_log.append(conn, [new("a", 4)])
    positions = [a.position for a in first + second]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert [a.stream_version for a in first + second] == [1, 1, 2, 3]


def test_read_after_pages_in_position_order_with_data_intact(db: Database) -> None:
    with db.transaction() as conn:
        appended = event_log.append(conn, [new("x", i) for i in range(5)])
    with db.snapshot() as conn:
        page1 = event_log.read_after(conn, 0, 3)
        page2 = event_log.read_after(conn, page1[-1].position, 3)
        assert event_log.last_position(conn) == appended[-1].position
    read = page1 + page2
    assert [e.position for e in read] == [a.position for a in appended]
    assert [e.data["n"] for e in read] == list(range(5))
    assert read[0].occurred_at == "2017-11-08"
    assert read[0].recorded_at.tzinfo is not None


def test_a_rolled_back_append_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        event_log.append(conn, [new("y")])
        raise RuntimeError("the request failed after appending")
    with db.snapshot() as conn:
        assert event_log.count(conn) == 0


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'Tampered'", "DELETE FROM events"],
)
def test_the_database_refuses_to_change_or_delete_events(db: Database, statement: str) -> None:
    with db.transaction() as conn:
        event_log.append(conn, [new("z")])
    with pytest.raises(sa.exc.DBAPIError, match="immutable"), db.transaction() as conn:
        conn.execute(sa.text(statement))
    with db.snapshot() as conn:
        assert conn.execute(sa.select(events.c.type)).scalars().all() == ["ControlChanged"]


def test_duplicate_event_ids_are_refused(db: Database) -> None:
    event = new("dup")
    with db.transaction() as conn:
        event_log.append(conn, [event])
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as conn:
        event_log.append(conn, [event])


def test_a_request_id_is_claimed_once_per_kind(db: Database) -> None:
    with db.transaction() as conn:
        assert requests.claim(conn, "report", "r1", "hash-1")
        assert not requests.claim(conn, "report", "r1", "hash-2")
        assert requests.claim(conn, "correction", "r1", "hash-3")
    with db.snapshot() as conn:
        assert requests.stored_hash(conn, "report", "r1") == "hash-1"
        assert requests.stored_hash(conn, "report", "r2") is None


def test_claim_history_lists_the_claim_then_what_targets_it(db: Database) -> None:
    claim = new("p")
    correction = NewEvent(
        type="ClaimCorrected",
        stream_id="p",
        data={"event_id": claim.event_id},
        target_event_id=claim.event_id,
    )
    with db.transaction() as conn:
        event_log.append(conn, [claim, new("q")])
        event_log.append(conn, [correction])
    with db.snapshot() as conn:
        history = event_log.read_claim_history(conn, claim.event_id)
    assert [e.event_id for e in history] == [claim.event_id, correction.event_id]
