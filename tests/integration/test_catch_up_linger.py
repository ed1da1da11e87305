"""A catch-up that has reached the log's end lingers before it looks again (PROJECTION_LINGER): the
reports that arrive meanwhile are folded by one batch, in one transaction, not one batch each. A
catch-up job hears the doorbell while it runs: at the log's end it waits for the next ring (a real
Redis) rather than ending."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue

from services.doorbell import Ear, LocalDoorbell, QueueDoorbell
from services.projector import jobs, process
from services.projector.embedded import EmbeddedProjector
from services.projector.runner import CatchUp, catch_up
from services.store import event_log
from services.store.database import Database
from services.store.read_models import PROJECTION
from tests.support.apps import settings_for
from tests.support.events import control_changed
from tests.support.workers import caught_up, wait_until


def _report(db: Database, place: str, day: int) -> int:
    claim = control_changed(place, "iraqi-forces", 100, f"2020-01-{day:02d}")
    with db.transaction() as conn:
        return event_log.append(conn, [claim])[0].position


def test_reports_arriving_while_a_catch_up_lingers_are_folded_in_one_batch(db: Database) -> None:
    place = f"linger-{uuid.uuid4().hex[:8]}"
    first = _report(db, place, 1)
    results: list[CatchUp] = []
    runner = threading.Thread(target=lambda: results.append(catch_up(db, batch_size=100, linger=1.5)))
    runner.start()
    wait_until(lambda: caught_up(db), 10, f"position {first}")  # its first batch: it lingers now
    later = [_report(db, place, day) for day in (2, 3, 4)]  # three transactions of their own
    runner.join(timeout=30)

    assert not runner.is_alive()
    (done,) = results
    # The first report alone, then the three that arrived during the linger together.
    assert (done.events, done.batches, done.position) == (4, 2, later[-1])
    assert done.caught_up
    assert caught_up(db)


def test_without_linger_a_catch_up_ends_at_the_first_batch_that_finds_nothing(db: Database) -> None:
    place = f"linger-{uuid.uuid4().hex[:8]}"
    position = _report(db, place, 1)
    started = time.monotonic()
    done = catch_up(db, batch_size=100, linger=0.0)
    assert (done.events, done.batches, done.position, done.caught_up) == (1, 1, position, True)
    assert time.monotonic() - started < 1.0


def test_the_catch_up_job_lingers_as_configured(
    fresh_pg_url: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = process.ProjectorContext(settings_for(fresh_pg_url, cache_dir, projection_linger=0.7))
    asked: dict[str, Any] = {}

    def catching_up(db: Database, name: str, **options: Any) -> CatchUp:
        asked.update(options)
        return catch_up(db, name, **options)

    monkeypatch.setattr(jobs.process, "current", lambda: context)
    monkeypatch.setattr(jobs, "run_catch_up", catching_up)
    try:
        assert jobs.catch_up()["caught_up"]
    finally:
        context.database().dispose()
    assert asked["linger"] == 0.7


def _embedded(db: Database) -> tuple[EmbeddedProjector, LocalDoorbell, list[tuple[float, int]]]:
    """A started embedded projector (50 ms linger), its doorbell, and the advances it tells of:
    (when, position)."""
    advances: list[tuple[float, int]] = []
    doorbell = LocalDoorbell()
    projector = EmbeddedProjector(
        db, doorbell, 5.0, 100, on_advance=lambda p: advances.append((time.monotonic(), p)), linger=0.05
    )
    projector.start()
    return projector, doorbell, advances


def test_the_embedded_projector_tells_of_each_advance_while_reports_stream_in(db: Database) -> None:
    # It lingers between its ticks, not inside a catch-up: under a steady stream a catch-up that
    # lingered would never return, and the read side (on SQLite it hears of no commit otherwise)
    # would learn nothing until the stream stopped.
    place = f"linger-{uuid.uuid4().hex[:8]}"
    projector, doorbell, advances = _embedded(db)
    try:
        for day in range(1, 29):  # 28 reports over about 0.8 s
            _report(db, place, day)
            doorbell.ring()
            time.sleep(0.03)
        stream_ended = time.monotonic()
        last = _report(db, place, 28)
        doorbell.ring()
        wait_until(lambda: caught_up(db), 10, f"position {last}")
    finally:
        projector.stop()
    told_while_streaming = [p for t, p in advances if t < stream_ended]
    assert len(told_while_streaming) >= 5, advances
    assert told_while_streaming == sorted(told_while_streaming)
    assert len(advances) < 29  # and the linger gathered reports into ticks


def test_the_embedded_projector_tells_of_its_batches_while_reports_arrive_back_to_back(db: Database) -> None:
    # Every look of its catch-up finds more, so the catch-up returns only once they pause: told
    # of nothing until then, a dashboard on `make run` saw no change while a feed sent.
    place = f"linger-{uuid.uuid4().hex[:8]}"
    projector, doorbell, advances = _embedded(db)
    try:
        started, sent = time.monotonic(), 0
        while time.monotonic() - started < 1.5:
            last = _report(db, place, 1 + sent % 28)
            doorbell.ring()
            sent += 1
            # Closer than any look of the catch-up takes, but not with no gap at all: on SQLite,
            # a loop that begins its next write as it commits holds the one write lock nearly all
            # the time, and on a loaded machine the projector's busy wait found it free only once
            # the loop ended (1 run in 3 failed, before and after the pace moved to pace.py).
            time.sleep(0.002)
        stream_ended = time.monotonic()
        wait_until(lambda: caught_up(db), 10, f"position {last}")
    finally:
        projector.stop()
    told_while_streaming = [p for t, p in advances if t < stream_ended]
    assert len(told_while_streaming) >= 3, (sent, advances[:5])
    assert told_while_streaming == sorted(told_while_streaming)
    assert advances[-1][1] == last


def test_the_embedded_projector_folds_a_report_after_a_pause_at_once_and_paces_a_stream(db: Database) -> None:
    # Paced as the worker's job is (services.projector.pace): the first reports after a quiet spell
    # are folded as they ring, not a linger after the previous tick; the next waits for the pace.
    place = f"linger-{uuid.uuid4().hex[:8]}"
    linger = 2.0
    doorbell = LocalDoorbell()
    projector = EmbeddedProjector(db, doorbell, 30.0, 100, linger=linger)
    projector.start()
    try:
        rung, folded = [], []
        for day in (1, 2, 3):
            position = _report(db, place, day)
            rung.append(time.monotonic())
            doorbell.ring()
            wait_until(lambda: caught_up(db), 10, f"position {position}")
            folded.append(time.monotonic())
    finally:
        projector.stop()
    took = [f - r for r, f in zip(rung, folded, strict=True)]
    # The first two take the burst's two tokens (before, the second waited for the linger after
    # the first's tick: 1.9 s here); the third waits for the token that comes back a linger after
    # the first tick, however slow the machine made the first two.
    assert took[0] < linger / 2 and took[1] < linger / 2, took
    assert folded[2] >= rung[0] + 0.95 * linger, (rung, folded)


def test_a_job_at_the_log_s_end_waits_for_the_next_ring_then_folds_at_once(
    db: Database, redis_url: str, queue_name: str
) -> None:
    connection = redis.Redis.from_url(redis_url)
    bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
    place = f"ear-{uuid.uuid4().hex[:8]}"
    try:
        _report(db, place, 1)
        ear = _running(connection, bell, queue_name)

        results: list[CatchUp] = []
        ended: list[float] = []

        def job() -> None:
            results.append(catch_up(db, batch_size=100, linger=5.0, ear=ear, idle=1.5))
            ended.append(time.monotonic())

        runner = threading.Thread(target=job)
        runner.start()
        wait_until(lambda: caught_up(db), 10, "the first report")
        time.sleep(0.3)  # it waits for a ring now, not looking at the log
        second = _report(db, place, 2)
        rang = time.monotonic()
        bell.ring()
        # After a pause the report is folded at once, not after the linger of a stream (5 s).
        wait_until(lambda: caught_up(db), 3, f"position {second}")
        assert time.monotonic() - rang < 2.5
        runner.join(timeout=30)
        assert not runner.is_alive()
    finally:
        connection.close()
    (done,) = results
    assert (done.events, done.batches, done.position, done.caught_up) == (2, 2, second, True)
    assert ended[0] - rang >= 1.4  # it ended only after `idle` seconds with no ring


def _running(connection: redis.Redis, bell: QueueDoorbell, queue_name: str) -> Ear:
    """Ring once, and take the job off its queue as a worker would: while its key exists, rings
    leave tokens; the ear of that job."""
    bell.ring()
    queue = Queue(queue_name, connection=connection)
    queue.remove(bell.job_id)
    return Ear(connection, bell.job_id, queue.key)


def _job(
    db: Database, connection: redis.Redis, bell: QueueDoorbell, queue_name: str, linger: float
) -> tuple[threading.Thread, list[CatchUp]]:
    """The catch-up job of `bell`, running in a thread as a worker runs it; its result once it
    ends (after 3 s with no ring)."""
    ear = _running(connection, bell, queue_name)
    results: list[CatchUp] = []
    runner = threading.Thread(
        target=lambda: results.append(catch_up(db, batch_size=100, linger=linger, ear=ear, idle=3.0))
    )
    runner.start()
    return runner, results


def test_rings_while_a_job_folds_are_folded_together_by_its_next_batch(
    db: Database, redis_url: str, queue_name: str
) -> None:
    connection = redis.Redis.from_url(redis_url)
    bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
    queue = Queue(queue_name, connection=connection)
    place = f"ear-{uuid.uuid4().hex[:8]}"

    class Streaming(Ear):
        """Three reports arrive (and ring) while the first batch folds."""

        def __init__(self) -> None:
            super().__init__(connection, bell.job_id, queue.key)
            self.later: list[int] = []

        def rang(self) -> bool:
            if not self.later:
                self.later.extend(_report(db, place, day) for day in (2, 3, 4))
                for _ in self.later:
                    bell.ring()
            return super().rang()

    try:
        first = _report(db, place, 1)
        _running(connection, bell, queue_name)
        ear = Streaming()
        done = catch_up(db, batch_size=100, linger=0.3, ear=ear, idle=0.5)
    finally:
        connection.close()
    # The first alone, then the three that rang during it, together.
    assert (done.events, done.batches, done.position) == (4, 2, ear.later[-1])
    assert first < ear.later[0]


def test_a_job_folds_a_stream_at_most_once_per_linger_and_a_report_after_a_pause_at_once(
    db: Database, redis_url: str, queue_name: str
) -> None:
    # Ten reports a second, each ringing, for two seconds: with a 0.5 s linger the job folds them
    # in about six batches (two at once, then one per linger), not twenty (one per ring). A ring
    # heard while it waited is for the batch it folds then; the report after a pause longer than
    # the linger is folded at once.
    connection = redis.Redis.from_url(redis_url)
    bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
    place = f"ear-{uuid.uuid4().hex[:8]}"
    linger, gap, streamed = 0.5, 0.1, 20
    try:
        _report(db, place, 1)
        runner, results = _job(db, connection, bell, queue_name, linger)
        wait_until(lambda: caught_up(db), 10, "the first report")
        for n in range(streamed):
            _report(db, place, 2 + n % 27)
            bell.ring()
            time.sleep(gap)
        wait_until(lambda: caught_up(db), 10, "the stream")
        time.sleep(linger + 0.3)
        after_pause = _report(db, place, 28)
        rang = time.monotonic()
        bell.ring()
        wait_until(lambda: caught_up(db), 10, f"position {after_pause}")
        waited = time.monotonic() - rang
        runner.join(timeout=30)
        assert not runner.is_alive()
    finally:
        connection.close()
    assert waited < linger / 2, waited
    (done,) = results
    assert (done.events, done.position) == (streamed + 2, after_pause)
    # The first report; the stream's, one batch per linger of its (about 2 s), the burst's one
    # more and the tail's; the one after the pause.
    assert 3 <= done.batches - 2 <= streamed * gap / linger + 3, done.batches


def test_a_late_ring_delays_the_next_report_of_a_stream_at_most_not_every_later_one(
    db: Database, redis_url: str, queue_name: str
) -> None:
    # Reports one linger apart, the third's ring late: the next ones must not wait for it (the
    # pace allows two batches back to back). Paced from when each batch began, every later
    # report waited as long as the third was late.
    connection = redis.Redis.from_url(redis_url)
    bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
    place = f"ear-{uuid.uuid4().hex[:8]}"
    linger, late, reports = 0.6, 0.4, 8
    waits: list[float] = []
    try:
        _report(db, place, 1)
        runner, results = _job(db, connection, bell, queue_name, linger)
        wait_until(lambda: caught_up(db), 10, "the first report")
        start = time.monotonic()
        for n in range(reports):
            time.sleep(max(0.0, start + n * linger - time.monotonic()))
            position = _report(db, place, 2 + n)
            if n == 2:
                time.sleep(late)
            rang = time.monotonic()
            bell.ring()
            wait_until(lambda: caught_up(db), 10, f"position {position}")
            waits.append(time.monotonic() - rang)
        runner.join(timeout=30)
        assert not runner.is_alive()
    finally:
        connection.close()
    assert results and results[0].events == reports + 1
    assert max(waits[4:]) < late * 0.6, waits
