"""PostgreSQL-specific guarantees of the log: tail-safe positions, immutability from any client."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from services.store import event_log
from services.store.database import Database
from services.store.event_log import NewEvent


def new(stream: str) -> NewEvent:
    return NewEvent(type="ControlChanged", stream_id=stream, data={"place_id": stream})


def schema_of(url: str) -> str:
    return unquote(url.split("options=")[1]).split("=")[1]


def test_a_later_writer_waits_so_positions_commit_in_order(fresh_pg_url: str) -> None:
    db = Database(fresh_pg_url)
    try:
        with db.engine.connect() as first:
            first.begin()
            [a] = event_log.append(first, [new("a")])  # holds the log's lock until commit
            second: list[int] = []
            writer = threading.Thread(target=lambda: second.extend(_append_and_commit(db, "b")), daemon=True)
            writer.start()
            time.sleep(0.3)
            assert second == [], "a second writer committed while the first was open"
            with db.snapshot() as reader:
                assert event_log.read_after(reader, 0, 10) == []
            first.commit()
        writer.join(5)
        assert second and second[0] > a.position
    finally:
        db.dispose()


def _append_and_commit(db: Database, stream: str) -> list[int]:
    with db.transaction() as conn:
        return [a.position for a in event_log.append(conn, [new(stream)])]


def test_without_the_lock_a_sequence_lets_a_tailing_reader_skip(fresh_pg_url: str) -> None:
    """The negative control: the bug the lock prevents, shown on a naive table."""
    engine = sa.create_engine(fresh_pg_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE naive_log (position bigserial PRIMARY KEY)"))
    with engine.connect() as slow, engine.connect() as fast, engine.connect() as reader:
        slow.execute(sa.text("INSERT INTO naive_log DEFAULT VALUES"))  # draws 1, stays open
        fast.execute(sa.text("INSERT INTO naive_log DEFAULT VALUES"))  # draws 2
        fast.commit()
        seen = reader.execute(sa.text("SELECT max(position) FROM naive_log")).scalar_one()
        reader.commit()
        slow.commit()
        missed = reader.execute(
            sa.text("SELECT count(*) FROM naive_log WHERE position <= :seen"), {"seen": seen}
        ).scalar_one()
    engine.dispose()
    assert seen == 2
    assert missed == 2  # position 1 committed after the reader passed it


@pytest.mark.slow
def test_many_concurrent_writers_never_let_a_tailing_reader_skip(fresh_pg_url: str) -> None:
    db = Database(fresh_pg_url, pool_size=20)
    writers, per_writer = 12, 40
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            rnd = random.Random(n)
            for i in range(per_writer):
                with db.transaction() as conn:
                    event_log.append(conn, [new(f"s{n}-{j}") for j in range(rnd.randint(1, 3))])
                    # Hold the transaction open a little after drawing positions: without the
                    # lock this is exactly when a later position overtakes an earlier one.
                    conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": rnd.random() / 500})
                if i % 10 == 0:
                    time.sleep(rnd.random() / 200)
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    def tail() -> None:
        last = 0
        while True:
            finished = done.is_set()
            with db.snapshot() as conn:
                page = event_log.read_after(conn, last, 500)
            for event in page:
                assert event.position > last
                seen.append(event.position)
                last = event.position
            if finished and not page:
                return

    tailer = threading.Thread(target=tail)
    tailer.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    tailer.join(60)
    assert not errors
    with db.snapshot() as conn:
        everything = [e.position for e in event_log.read_after(conn, 0, 1_000_000)]
    db.dispose()
    assert len(everything) >= writers * per_writer
    assert seen == everything, f"the tailing reader skipped {sorted(set(everything) - set(seen))[:10]}"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'Tampered'",
        "DELETE FROM events",
        "DELETE FROM events WHERE false",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
    ],
)
def test_psql_cannot_change_delete_or_truncate_events(fresh_pg_url: str, statement: str) -> None:
    db = Database(fresh_pg_url)
    with db.transaction() as conn:
        event_log.append(conn, [new("kept")])
    admin_url = fresh_pg_url.split("?")[0].replace("postgresql+psycopg://", "postgresql://")
    script = f"SET search_path TO {schema_of(fresh_pg_url)}; {statement};"
    result = subprocess.run(
        ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "events are immutable" in result.stderr
    with db.snapshot() as conn:
        assert event_log.count(conn) == 1
    db.dispose()
