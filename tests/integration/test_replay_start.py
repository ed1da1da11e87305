"""Starting a replay: one that could not be started, or whose job never ran, blocks no later one;
two requests at once start one replay; a replay failed while it runs is never swapped in nor
marked done (its runner stops)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.combined import create_app
from services.ingest.admin import ReplayRunner
from services.ingest.app import create_app as create_ingest_app
from services.projector.replay import ReplayAbandoned, run_replay
from services.store import checkpoints, event_log, replay_runners, replays
from services.store.database import Database
from services.store.read_models import PROJECTION
from services.store.read_models import replays as replay_table
from services.web.context import context_of
from tests.support.apps import ADMIN, free_port, live_server, settings_for
from tests.support.events import control_changed
from tests.support.workers import wait_until, worker_env, workers

EVENTS = 30


def seed(db: Database, count: int = EVENTS) -> None:
    with db.transaction() as conn:
        event_log.append(
            conn,
            [
                control_changed(f"place-{i % 5}", f"actor-{i % 3}", 100, f"2017-01-{i % 28 + 1:02d}")
                for i in range(count)
            ],
        )


def records(db: Database) -> list[replays.Replay]:
    """Every replay record, oldest request first."""
    with db.snapshot() as conn:
        ids = conn.execute(
            sa.select(replay_table.c.replay_id).order_by(replay_table.c.requested_at)
        ).scalars()
        return [r for r in (replays.get(conn, i) for i in list(ids)) if r is not None]


def records_at(url: str) -> list[replays.Replay]:
    db = Database(url)
    try:
        return records(db)
    finally:
        db.dispose()


def lost(calls: list[str]) -> Callable[[str], None]:
    """A runner whose job is lost: it takes the replay and nothing ever runs it."""
    return calls.append


def done(client: TestClient, replay_id: str) -> bool:
    status = client.get(f"/v1/admin/replays/{replay_id}", headers=ADMIN).json()["status"]
    assert status != "failed"
    return bool(status == "done")


# C9: a replay whose start failed, or whose job never ran, stays `queued` and blocks every later one.


def test_a_replay_that_could_not_be_started_is_failed_and_the_next_one_runs(
    backend_url: str, cache_dir: Path
) -> None:
    def broken(replay_id: str) -> None:
        raise ConnectionError("redis went away")

    with TestClient(create_app(settings_for(backend_url, cache_dir))) as client:
        runner = context_of(client.app).get(ReplayRunner)
        real, runner.run = runner.run, broken
        refused = client.post("/v1/admin/replay", headers=ADMIN)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        (failed,) = records_at(backend_url)
        assert failed.replay_id in refused.json()["detail"]
        assert failed.status == "failed" and failed.finished_at is not None
        assert failed.error == "it could not be started: redis went away"

        runner.run = real
        started = client.post("/v1/admin/replay", headers=ADMIN)
        assert started.status_code == 202, started.text
        assert started.json()["replay_id"] != failed.replay_id
        wait_until(lambda: done(client, started.json()["replay_id"]), 30, "the next replay")


def test_a_replay_that_redis_could_not_take_is_failed(fresh_pg_url: str, cache_dir: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = settings_for(fresh_pg_url, cache_dir, redis_url=down, queue_name="frontline-test-down")
    with TestClient(create_ingest_app(settings)) as client:
        refused = client.post("/v1/admin/replay", headers=ADMIN)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    (failed,) = records_at(fresh_pg_url)
    assert failed.status == "failed" and "could not be started" in (failed.error or "")


def test_a_replay_whose_job_was_lost_gives_way_after_the_start_timeout(
    backend_url: str, cache_dir: Path
) -> None:
    calls: list[str] = []
    settings = settings_for(backend_url, cache_dir, replay_start_timeout=1.0)
    with TestClient(create_app(settings)) as client:
        runner = context_of(client.app).get(ReplayRunner)
        real, runner.run = runner.run, lost(calls)
        first = client.post("/v1/admin/replay", headers=ADMIN).json()["replay_id"]
        # Within the timeout the queued one may still be taken: it is the active replay.
        again = client.post("/v1/admin/replay", headers=ADMIN).json()
        assert again == {"replay_id": first, "status": "queued"} and calls == [first]

        time.sleep(1.1)
        runner.run = real
        started = client.post("/v1/admin/replay", headers=ADMIN)
        assert started.status_code == 202 and started.json()["replay_id"] != first
        wait_until(lambda: _statuses(backend_url) == ["failed", "done"], 30, "the next replay")
    old, _ = records_at(backend_url)
    assert (old.replay_id, old.error) == (first, "no runner started it within 1 s")


@pytest.mark.redis
def test_a_replay_whose_rq_job_was_flushed_gives_way_and_the_next_runs_on_a_worker(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    from redis import Redis
    from rq.job import Job

    settings = settings_for(
        fresh_pg_url, cache_dir, redis_url=redis_url, queue_name=queue_name, replay_start_timeout=1.0
    )
    with TestClient(create_ingest_app(settings)) as client:
        first = client.post("/v1/admin/replay", headers=ADMIN).json()["replay_id"]
        connection = Redis.from_url(redis_url)
        Job.fetch(f"{queue_name}-replay-{first}", connection=connection).delete()  # as a flush would
        connection.close()
        time.sleep(1.1)
        started = client.post("/v1/admin/replay", headers=ADMIN)
        assert started.status_code == 202 and started.json()["replay_id"] != first
        # Watched in the database: a GET would apply the 1-s start timeout to the worker's boot.
        with workers(1, worker_env(fresh_pg_url, redis_url, queue_name, cache_dir)):
            wait_until(lambda: _statuses(fresh_pg_url) == ["failed", "done"], 60, "the next replay")
    assert [r.replay_id for r in records_at(fresh_pg_url)] == [first, started.json()["replay_id"]]


def _statuses(url: str) -> list[str]:
    statuses = [r.status for r in records_at(url)]
    assert statuses in (["failed", "queued"], ["failed", "running"], ["failed", "done"]), statuses
    return statuses


def test_a_queued_replay_being_started_is_not_failed(db: Database) -> None:
    with db.transaction() as conn:
        replay, _ = replays.start(conn)
        conn.execute(
            replay_table.update().values(requested_at=datetime.now(UTC) - timedelta(hours=1))
        )  # long past the timeout
    with replay_runners.holding(db, replay.replay_id):  # its runner has it, about to claim it
        assert replay_runners.fail_abandoned(db, start_timeout=60) == []
        assert [r.status for r in records(db)] == ["queued"]
    assert replay_runners.fail_abandoned(db, start_timeout=60) == [replay.replay_id]
    assert [r.status for r in records(db)] == ["failed"]


def test_a_job_that_runs_after_its_replay_was_given_up_does_nothing(db: Database) -> None:
    seed(db)
    with db.transaction() as conn:
        replay, _ = replays.start(conn)
        conn.execute(replay_table.update().values(requested_at=datetime.now(UTC) - timedelta(hours=1)))
    assert replay_runners.fail_abandoned(db, start_timeout=60) == [replay.replay_id]
    run_replay(db, replay.replay_id, batch_size=7)
    assert [(r.status, r.processed) for r in records(db)] == [("failed", 0)]
    assert _generation(db) == 0


# S2: two requests at once start two replays.


def test_the_database_holds_one_active_replay_at_most(db: Database) -> None:
    now = datetime.now(UTC)
    row = {"processed": 0, "total": 0, "requested_at": now}
    with db.transaction() as conn:
        for i, status in enumerate(["done", "failed", "done", "queued"]):
            conn.execute(replay_table.insert(), {**row, "replay_id": f"r{i}", "status": status})
    for status in ("queued", "running"):
        with pytest.raises(sa.exc.IntegrityError), db.transaction() as conn:
            conn.execute(replay_table.insert(), {**row, "replay_id": f"x-{status}", "status": status})
    assert [r.replay_id for r in records(db)] == ["r0", "r1", "r2", "r3"]


def test_a_request_racing_another_answers_with_its_replay(db: Database) -> None:
    answers: list[tuple[replays.Replay, bool]] = []

    def second() -> None:
        with db.transaction() as conn:
            answers.append(replays.start(conn))

    with db.transaction() as conn:
        first, created = replays.start(conn)
        assert created
        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.5)  # the racer found no active replay (ours is not committed) and waits on ours
        assert answers == [], "the racer started a second replay beside the uncommitted first"
    racer.join(30)
    assert answers == [(first, False)]
    assert [r.replay_id for r in records(db)] == [first.replay_id]


def test_concurrent_replay_requests_start_one_replay(backend_url: str, cache_dir: Path) -> None:
    calls: list[str] = []
    app = create_app(settings_for(backend_url, cache_dir))
    with live_server(app) as base:
        context_of(app).get(ReplayRunner).run = lost(calls)
        barrier = threading.Barrier(8)

        def post(_: int) -> Any:
            with httpx.Client(base_url=base, timeout=30) as http:
                barrier.wait()
                response = http.post("/v1/admin/replay", headers=ADMIN)
                assert response.status_code == 202, response.text
                return response.json()["replay_id"]

        with ThreadPoolExecutor(8) as pool:
            started = set(pool.map(post, range(8)))
    assert len(started) == 1 and calls == list(started)
    assert [r.replay_id for r in records_at(backend_url)] == calls


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_migration_0008_keeps_the_oldest_of_several_active_replays(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from contextlib import nullcontext

    from alembic import command

    from services.store.migrations import alembic_config, upgrade
    from tests.support import databases

    if backend == "postgres":
        schema: Any = databases.postgres_schema(request.getfixturevalue("postgres_server"), migrate=False)
    else:
        schema = nullcontext(databases.sqlite_database(tmp_path / "old.db", migrate=False))
    with schema as url:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        config = alembic_config()
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0007_hardening")
            conn.commit()
        start = datetime(2026, 12, 1, tzinfo=UTC)
        with engine.begin() as conn:
            for i, status in enumerate(["running", "queued", "done", "queued"]):
                conn.execute(
                    replay_table.insert(),
                    {"replay_id": f"r{i}", "status": status, "processed": 0, "total": 0,
                     "requested_at": start + timedelta(minutes=i)},
                )  # fmt: skip
        engine.dispose()
        upgrade(url)
        db = Database(url)
        statuses = [(r.replay_id, r.status) for r in records(db)]
        db.dispose()
    assert statuses == [("r0", "running"), ("r1", "failed"), ("r2", "done"), ("r3", "failed")]


# S1: a replay someone failed while its runner still worked was later overwritten with `done`.


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db)
    return db


def failing_at(db: Database, replay_id: str, when: Callable[[int, int], bool]) -> Callable[[int, int], None]:
    """A progress callback that, when `when(done, total)`, fails the replay as fail_abandoned would
    (the runner's lock connection dropped), leaving its tables for the runner to trip over or not."""
    calls: list[tuple[int, int]] = []

    def progress(processed: int, total: int) -> None:
        calls.append((processed, total))
        if when(processed, total):
            with db.transaction() as conn:
                assert replays.fail(conn, replay_id, "running", "its runner died", datetime.now(UTC))

    progress.calls = calls  # type: ignore[attr-defined]
    return progress


def test_a_replay_failed_while_it_builds_stops_its_runner(seeded: Database) -> None:
    with seeded.transaction() as conn:
        replay, _ = replays.start(conn)
    progress = failing_at(seeded, replay.replay_id, lambda processed, total: processed == 7)
    with pytest.raises(ReplayAbandoned):
        run_replay(seeded, replay.replay_id, batch_size=7, progress=progress)
    assert progress.calls == [(7, EVENTS)]  # type: ignore[attr-defined]
    _assert_failed_and_untouched(seeded, replay.replay_id)


def test_a_replay_failed_just_before_its_swap_is_not_swapped_in_nor_done(seeded: Database) -> None:
    with seeded.transaction() as conn:
        replay, _ = replays.start(conn)
    progress = failing_at(seeded, replay.replay_id, lambda processed, total: processed == total)
    with pytest.raises(ReplayAbandoned):
        run_replay(seeded, replay.replay_id, batch_size=7, progress=progress)
    assert progress.calls[-1] == (EVENTS, EVENTS)  # type: ignore[attr-defined]
    _assert_failed_and_untouched(seeded, replay.replay_id)


def test_an_unfailed_replay_still_swaps_in_and_is_done(seeded: Database) -> None:
    with seeded.transaction() as conn:
        replay, _ = replays.start(conn)
    run_replay(seeded, replay.replay_id, batch_size=7)
    (record,) = records(seeded)
    assert (record.status, record.processed, record.total) == ("done", EVENTS, EVENTS)
    assert _generation(seeded) == 1


def _generation(db: Database) -> int:
    with db.snapshot() as conn:
        checkpoint = checkpoints.read(conn, PROJECTION)
    return checkpoint.generation if checkpoint is not None else 0  # none: no projector ran yet


def _assert_failed_and_untouched(db: Database, replay_id: str) -> None:
    (record,) = records(db)
    assert (record.replay_id, record.status, record.error) == (replay_id, "failed", "its runner died")
    assert _generation(db) == 0, "the failed replay's tables were swapped in"
    with db.snapshot() as conn:
        names = sa.inspect(conn).get_table_names()
        names_of_checkpoints = [n for (n,) in conn.execute(sa.text("SELECT name FROM projections"))]
    assert [n for n in names if "__" in n] == [], "the stopped runner left its tables"
    assert replay_runners.scratch_checkpoint(replay_id) not in names_of_checkpoints
