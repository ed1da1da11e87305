"""The RQ doorbell against a real Redis: one catch-up job at a time, however often it rings."""

from __future__ import annotations

import threading
import time

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from structlog.testing import capture_logs

from services.doorbell import RANG_TTL_MS, Ear, QueueDoorbell, rang_key
from services.store.read_models import PROJECTION
from tests.support.apps import free_port


def test_a_ring_while_the_job_waits_or_runs_enqueues_nothing_more(redis_url: str, queue_name: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    try:
        bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
        queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
        bell.ring()
        assert queue.job_ids == [bell.job_id]
        job = Job.fetch(bell.job_id, connection=connection, serializer=JSONSerializer)
        for _ in range(3):
            bell.ring()  # queued: the key is there, so nothing is built or enqueued
        assert queue.job_ids == [bell.job_id]
        assert (
            Job.fetch(bell.job_id, connection=connection, serializer=JSONSerializer).enqueued_at
            == job.enqueued_at
        )

        queue.remove(bell.job_id)  # taken by a worker: off the queue, its key still there
        bell.ring()
        assert queue.job_ids == []

        job.delete()  # done (result_ttl 0): the next ring enqueues it again
        bell.ring()
        assert queue.job_ids == [bell.job_id]
    finally:
        connection.close()


def test_a_ring_that_fails_otherwise_is_skipped_not_raised(redis_url: str, queue_name: str) -> None:
    # The report writer rings after its commit and before it answers: a raise there would end its
    # thread, and every report after it would wait for an answer forever. (A queue name that makes
    # an id RQ refuses is one such failure; the settings refuse that name, QueueDoorbell does not.)
    connection = redis.Redis.from_url(redis_url)
    try:
        bell = QueueDoorbell(connection, f"{queue_name}.x", PROJECTION, 60)
        with capture_logs() as logged:
            bell.ring()  # RQ raises ValueError for the job's id
        assert Queue(f"{queue_name}.x", connection=connection).job_ids == []
        assert [(e["event"], e["log_level"]) for e in logged] == [("doorbell.failed", "error")]
        with capture_logs() as again:
            bell.ring()  # within the back-off, as after a Redis failure: not tried
        assert again == []
    finally:
        connection.close()


def test_a_ring_while_the_job_is_there_leaves_a_token_it_hears(redis_url: str, queue_name: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    try:
        bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
        queue = Queue(queue_name, connection=connection)
        ear = Ear(connection, bell.job_id, queue.key)
        bell.ring()  # enqueues the job: nobody is running to hear a token
        assert not connection.exists(rang_key(bell.job_id))
        assert not ear.rang()
        queue.remove(bell.job_id)  # a worker took it: running
        for _ in range(3):
            bell.ring()
        assert connection.llen(rang_key(bell.job_id)) == 1  # one token, however many rings
        assert 0 < connection.pttl(rang_key(bell.job_id)) <= RANG_TTL_MS  # and it goes by itself
        assert ear.rang() and not ear.rang()

        started = time.monotonic()
        assert not ear.wait(0.3)  # nobody rang: it waited that long
        assert time.monotonic() - started >= 0.25
        threading.Timer(0.1, bell.ring).start()
        started = time.monotonic()
        assert ear.wait(5)  # a ring wakes it at once, not when the wait ends
        assert time.monotonic() - started < 2

        Job.fetch(bell.job_id, connection=connection, serializer=JSONSerializer).delete()
        bell.ring()  # the job is gone: this ring enqueues it again and leaves no token
        assert Queue(queue_name, connection=connection).job_ids == [bell.job_id]
        assert not ear.rang()
    finally:
        connection.close()


def test_an_ear_on_a_redis_that_fails_hears_silence(queue_name: str) -> None:
    gone = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    ear = Ear(gone, f"{queue_name}-catch-up-{PROJECTION}", f"rq:queue:{queue_name}")
    with capture_logs() as logged:
        assert not ear.rang()
        assert not ear.wait(0.2)
    assert [(e["event"], e["log_level"]) for e in logged] == [("doorbell.unheard", "warning")] * 2


def test_an_ear_hears_nothing_once_other_work_waits_or_it_stops(redis_url: str, queue_name: str) -> None:
    # A catch-up serving a stream of reports must not hold a replay queued behind it, nor its
    # worker's shutdown, for its whole time budget.
    connection = redis.Redis.from_url(redis_url)
    try:
        bell = QueueDoorbell(connection, queue_name, PROJECTION, 60)
        queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
        bell.ring()
        queue.remove(bell.job_id)  # taken by a worker, running
        stopping = threading.Event()
        ear = Ear(connection, bell.job_id, queue.key, stopping)
        bell.ring()
        assert ear.rang()

        queue.enqueue("services.projector.jobs.replay", "r1", job_id=f"{queue_name}-replay-r1")
        bell.ring()
        started = time.monotonic()
        assert not ear.rang() and not ear.wait(5)
        assert time.monotonic() - started < 1  # not waited for

        queue.remove(f"{queue_name}-replay-r1")
        bell.ring()
        stopping.set()
        started = time.monotonic()
        assert not ear.rang() and not ear.wait(5)
        assert time.monotonic() - started < 1
    finally:
        connection.close()
