"""Projector workers under concurrency and faults: real PostgreSQL, Redis and `rq worker` processes."""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from rq import Queue, Worker
from rq.job import Job

from services.doorbell import QueueDoorbell, redis_connection
from services.projector import rebuild
from services.store import checkpoints, event_log
from services.store.database import Database
from services.store.read_models import PROJECTION, tables
from tests.support.events import claim_corrected, claim_retracted, control_changed
from tests.support.servers import ThrowawayRedis
from tests.support.workers import caught_up, start_worker, stop, wait_until, worker_env, workers

ACTORS = ["saa", "is", "sdf", "isf"]


def random_claims(rnd: random.Random, count: int, places: list[str]) -> list[Any]:
    claims = []
    for _ in range(count):
        actor = rnd.choice(ACTORS)
        giver = rnd.choice([None, *[a for a in ACTORS if a != actor]])
        when = f"2017-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        claims.append(
            control_changed(rnd.choice(places), actor, rnd.choice([0, 20, 40.5, 60, 100]), when, giver)
        )
    return claims


def assert_equals_a_full_replay(db: Database) -> None:
    suffix = f"__check_{uuid.uuid4().hex[:6]}"
    try:
        result = rebuild.rebuild(db, suffix)
        assert result.caught_up
        assert rebuild.differences(db, tables(), tables(suffix)) == []
    finally:
        rebuild.drop(db, suffix)


def assert_each_claim_folded_once(db: Database) -> int:
    """Every claim event has one row, and every live claim a state after it: none was skipped
    (`assert_equals_a_full_replay` then says none was folded out of turn, or twice)."""
    t = tables()
    with db.snapshot() as conn:
        logged = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE type = 'ControlChanged'")
        ).scalar_one()
        rows = conn.execute(sa.select(sa.func.count()).select_from(t.claims)).scalar_one()
        unfolded = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.claims)
            .where(t.claims.c.retracted.is_(False), t.claims.c.state_after.is_(None))
        ).scalar_one()
    assert rows == logged
    assert unfolded == 0, "a live claim has no state after it: it was not folded"
    return int(logged)


def test_eight_writers_three_workers_five_thousand_events(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    db = Database(fresh_pg_url, pool_size=10)
    doorbell = QueueDoorbell(redis_connection(redis_url), queue_name, PROJECTION, 120)
    places = [f"place-{i}" for i in range(25)]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        rnd = random.Random(n)
        try:
            mine: list[Any] = []
            for _ in range(25):
                batch = random_claims(rnd, 25, places)
                with db.transaction() as conn:
                    event_log.append(conn, batch)
                mine.extend(batch)
                doorbell.ring()
            # A few corrections and retractions of this writer's own claims.
            with db.transaction() as conn:
                event_log.append(conn, [claim_corrected(mine[3], mine[3].stream_id, share=50.0)])
                event_log.append(conn, [claim_retracted(mine[7], mine[7].stream_id)])
            doorbell.ring()
        except BaseException as exc:
            errors.append(exc)

    env = worker_env(fresh_pg_url, redis_url, queue_name, cache_dir, PROJECTION_BATCH_SIZE="300")
    with workers(3, env):
        writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        assert not errors
        wait_until(lambda: caught_up(db), 120, "the workers to catch up with 5,000 events")
    assert assert_each_claim_folded_once(db) == 8 * 25 * 25
    assert_equals_a_full_replay(db)
    db.dispose()


def test_kill_minus_nine_mid_batch_converges(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    db = Database(fresh_pg_url)
    rnd = random.Random(7)
    places = [f"p{i}" for i in range(200)]
    bell = QueueDoorbell(redis_connection(redis_url), queue_name, PROJECTION, 120)
    logged = 0

    def more() -> None:
        nonlocal logged
        with db.transaction() as conn:
            event_log.append(conn, random_claims(rnd, 15_000, places))
        logged += 15_000
        bell.ring()

    env = worker_env(fresh_pg_url, redis_url, queue_name, cache_dir, PROJECTION_BATCH_SIZE="400")
    running = [start_worker(env), start_worker(env, stock=True)]
    kills = 0
    try:
        more()
        while kills < 6 and not (kills >= 3 and caught_up(db)):
            if caught_up(db):
                more()  # a fast machine folded it all between two kills: more for the next
            threading.Event().wait(rnd.uniform(0.2, 0.8))
            victim = running.pop(rnd.randrange(len(running)))
            stop(victim, kill=True)  # SIGKILL: no cleanup, the batch's transaction just dies
            kills += 1
            running.append(start_worker(env))
        wait_until(lambda: caught_up(db), 180, "the projection to converge after the kills")
        assert kills >= 3
        assert assert_each_claim_folded_once(db) == logged
        assert_equals_a_full_replay(db)
    finally:
        for process in running:
            stop(process)
        db.dispose()


def test_a_flushed_redis_costs_seconds_not_data(fresh_pg_url: str, cache_dir: Path) -> None:
    """Redis loses everything (FLUSHALL: every queue, job and worker key). The test flushes a
    redis-server of its own on a free port: the shared one serves other tests and users."""
    own = ThrowawayRedis()
    own.start()
    db = Database(fresh_pg_url)
    try:
        queue = "frontline-flushed"
        doorbell = QueueDoorbell(redis_connection(own.url), queue, PROJECTION, 120)
        env = worker_env(fresh_pg_url, own.url, queue, cache_dir)
        rnd = random.Random(3)
        with workers(1, env):
            with db.transaction() as conn:
                event_log.append(conn, random_claims(rnd, 50, ["a", "b"]))
            doorbell.ring()
            wait_until(lambda: caught_up(db), 30, "the first catch-up")
            client = redis.Redis.from_url(own.url)
            assert client.exists(f"rq:workers:{queue}")  # the worker is registered, as RQ keeps it
            client.flushall()
            assert client.dbsize() == 0
            with db.transaction() as conn:
                event_log.append(conn, random_claims(rnd, 50, ["a", "b"]))
            # No ring: the doorbell was lost with Redis's data. The reconciler must notice.
            took = wait_until(lambda: caught_up(db), 30, "the reconciler to catch up after FLUSHALL")
            client.close()
        assert took < 10
        assert_equals_a_full_replay(db)
    finally:
        db.dispose()
        own.stop()


def test_a_stream_of_reports_is_one_job_each_folded_as_it_rings(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    # At a few reports a second each report used to be a job of its own (RQ's work, and a look at
    # the log that found nothing, for every report): the job now waits at the log's end for the
    # next ring, and ends a second after the last.
    db = Database(fresh_pg_url)
    connection = redis_connection(redis_url)
    doorbell = QueueDoorbell(connection, queue_name, PROJECTION, 120)
    folded_after = []
    # The reconciler looks only every 30 s: each report below is folded because its ring was heard.
    env = worker_env(fresh_pg_url, redis_url, queue_name, cache_dir, RECONCILE_INTERVAL="30")
    try:
        with workers(1, env):
            for day in range(1, 11):
                with db.transaction() as conn:
                    event_log.append(
                        conn, [control_changed("Rawa", "iraqi-forces", 100, f"2017-11-{day:02d}")]
                    )
                doorbell.ring()
                folded_after.append(wait_until(lambda: caught_up(db), 10, f"report {day}"))
                time.sleep(0.1)  # 5-10 reports a second
            [worker] = wait_for_one_worker(connection, queue_name)
            wait_until(lambda: not connection.exists(Job.key_for(doorbell.job_id)), 10, "the job to end")
            worker.refresh()
            assert worker.successful_job_count == 1
    finally:
        connection.close()
        db.dispose()
    # Each folded as it rang (the first once the worker had started); the reconciler's turn is at 30 s.
    assert max(folded_after[1:]) < 5, folded_after


def test_a_worker_asked_to_stop_during_a_stream_stops_after_its_batch(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    # RQ's warm shutdown waits for the running job: a catch-up serving a stream would otherwise
    # hold the worker for its whole time budget (30 s here).
    db = Database(fresh_pg_url)
    connection = redis_connection(redis_url)
    doorbell = QueueDoorbell(connection, queue_name, PROJECTION, 120)
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:
        for day in itertools.count(1):
            if not streaming.is_set():
                return
            claim = control_changed(
                "Rawa", "iraqi-forces", 100, f"2017-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}"
            )
            with db.transaction() as conn:
                event_log.append(conn, [claim])
            doorbell.ring()
            time.sleep(0.1)

    worker = start_worker(worker_env(fresh_pg_url, redis_url, queue_name, cache_dir, JOB_TIMEOUT="60"))
    writer = threading.Thread(target=stream)
    writer.start()
    try:
        wait_for_one_worker(connection, queue_name)
        with db.snapshot() as conn:
            head = event_log.last_position(conn)
        wait_until(lambda: _checkpoint(db) >= head, 30, "the worker's job to serve the stream")
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        took = time.monotonic() - started
    finally:
        streaming.clear()
        writer.join()
        stop(worker)
        connection.close()
        db.dispose()
    assert worker.returncode == 0
    assert took < 5, f"the worker took {took:.1f} s to stop"


def _checkpoint(db: Database) -> int:
    with db.snapshot() as conn:
        checkpoint = checkpoints.read(conn, PROJECTION)
    return checkpoint.position if checkpoint is not None else 0


def wait_for_one_worker(connection: redis.Redis, queue_name: str) -> list[Worker]:
    queue = Queue(queue_name, connection=connection)
    wait_until(lambda: len(Worker.all(queue=queue)) == 1, 30, "the worker to register")
    return Worker.all(queue=queue)
