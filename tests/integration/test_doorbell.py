"""The RQ doorbell against a real Redis: one catch-up job at a time, however often it rings."""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from structlog.testing import capture_logs

from services.doorbell import QueueDoorbell
from services.store.read_models import PROJECTION


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
