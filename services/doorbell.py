"""The projector's doorbell: "there is something new in the log", and nothing more.

A ring carries no event data. Ringing twice is harmless (the job catches up from its checkpoint);
not ringing at all costs latency, never data (the worker's reconciler rings when the log is ahead of
the checkpoint). So ringing never fails a write: a broken Redis is logged and skipped.

A ring while the catch-up job is queued or running enqueues nothing; it leaves a token the running
job hears (`Ear`), so that a job that has reached the log's end can wait a while for the next report
instead of ending: at 20 reports a second, one job for the stream instead of one RQ job, and one
empty look at the log, per report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import urlsplit

import redis
import structlog
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

log = structlog.get_logger(__name__)

CATCH_UP = "services.projector.jobs.catch_up"


def catch_up_job_id(queue_name: str, projection: str) -> str:
    # Job ids are global in a Redis: the queue's name keeps two deployments sharing one apart.
    return f"{queue_name}-catch-up-{projection}"


def rang_key(job_id: str) -> str:
    """The list where a ring leaves its token while the job `job_id` is queued or running."""
    return f"{job_id}:rang"


RANG_TTL_MS = 10_000  # a token nobody took goes by itself (its job ended, or never ran)

# One round trip: while the job's key exists, leave (at most one) token; else say so, to enqueue it.
_RING_RUNNING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], 0, 0)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""


class Doorbell(Protocol):
    def ring(self) -> None: ...


class QueueDoorbell:
    """Rings by enqueueing the catch-up job on RQ, once per burst (a fixed id, `unique=True`)."""

    BACKOFF = 1.0  # after a Redis failure, skip ringing this long: the reconciler has it covered

    def __init__(self, connection: redis.Redis, queue_name: str, projection: str, timeout: int) -> None:
        self.queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
        self.projection = projection
        self.timeout = timeout
        self.job_id = catch_up_job_id(queue_name, projection)
        self._job_key = Job.key_for(self.job_id)
        self._rang_key = rang_key(self.job_id)
        self._ring_running = connection.register_script(_RING_RUNNING)
        self._quiet_until = 0.0

    def ring(self) -> None:
        if time.monotonic() < self._quiet_until:
            return
        try:
            # RQ refuses a unique job while its key exists (queued, running, or failed within its
            # failure_ttl): asking that first, in one round trip, costs a quarter of the CPU of
            # building the job for RQ to refuse, and most rings of a steady stream of reports are
            # such. The enqueue still checks, atomically, for a job that ended in between.
            if self._ring_running(keys=[self._job_key, self._rang_key], args=[RANG_TTL_MS]):
                return
            self.queue.enqueue(
                CATCH_UP,
                self.projection,
                job_id=self.job_id,
                unique=True,
                result_ttl=0,  # the id must be free again as soon as the job ends
                failure_ttl=10,  # a failed job blocks its id this long, then the next ring retries
                job_timeout=self.timeout,
            )
        except DuplicateJobError:
            pass  # a catch-up is already queued or running: it will see this event
        except redis.RedisError as exc:
            self._quiet_until = time.monotonic() + self.BACKOFF
            log.warning("doorbell.unreachable", error=str(exc))
        except Exception:
            # Whatever else goes wrong, the reports that rang are durable and are waiting for their
            # answers: the ring is skipped, never the answers (the report writer rings before it
            # answers, and a raise would end its thread).
            self._quiet_until = time.monotonic() + self.BACKOFF
            log.exception("doorbell.failed")


class Ear:
    """The running catch-up job's side of the doorbell: the rings that came while it ran.

    It hears nothing more once other work waits (a job in its queue, such as a replay) or its
    worker is `stopping`: then the job ends after its batch rather than serve a stream of reports
    for its whole time budget, and the next ring enqueues it again. A Redis that fails is taken as
    silence, logged: the job ends, and the reconciler rings for whatever it did not hear.
    """

    def __init__(
        self, connection: redis.Redis, job_id: str, queue_key: str, stopping: threading.Event | None = None
    ) -> None:
        self.connection = connection
        self.key = rang_key(job_id)
        self.queue_key = queue_key
        self.stopping = stopping or threading.Event()

    def rang(self) -> bool:
        """Whether a ring came since the last one heard (not waiting)."""
        try:
            with self.connection.pipeline(transaction=False) as both:
                both.lpop(self.key)
                both.llen(self.queue_key)
                token, waiting = both.execute()
        except redis.RedisError as exc:
            log.warning("doorbell.unheard", error=str(exc))
            return False
        return token is not None and not waiting and not self.stopping.is_set()

    def forget(self) -> None:
        """Drop a ring not yet heard: the batch about to be folded answers it."""
        try:
            self.connection.delete(self.key)
        except redis.RedisError as exc:
            log.warning("doorbell.unheard", error=str(exc))

    def wait(self, seconds: float) -> bool:
        """Whether a ring comes within `seconds` (or came since the last one heard)."""
        if seconds <= 0 or self.stopping.is_set():
            return self.rang()
        try:
            if self.connection.llen(self.queue_key):
                return False
            rang = self.connection.blpop([self.key], timeout=seconds) is not None
        except redis.RedisError as exc:
            log.warning("doorbell.unheard", error=str(exc))
            return False
        return rang and not self.stopping.is_set()


class LocalDoorbell:
    """Rings an in-process projector (embedded mode) through an Event it waits on."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def ring(self) -> None:
        self.event.set()


class NoDoorbell:
    """For a write-only process with no projector to wake: the events wait for the next replay."""

    def ring(self) -> None:
        return None


class QueueUnavailable(Exception):
    """Redis cannot be reached (or refused us): `where` is its host:port, never its password."""

    def __init__(self, reason: str, where: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Redis's connection errors become QueueUnavailable, naming the server and the cause."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
        raise QueueUnavailable(_reason(exc), _where(url)) from exc


def check_reachable(url: str) -> None:
    """Raise QueueUnavailable unless the Redis at `url` answers a PING."""
    connection = redis_connection(url)
    try:
        with translated(url):
            connection.ping()
    finally:
        connection.close()


def _reason(exc: redis.RedisError) -> str:
    # redis-py says "Error 111 connecting to 127.0.0.1:6390. Connection refused."
    text = str(exc).strip().rstrip(".")
    cause = text.rsplit(". ", 1)[-1] if text.startswith("Error ") else text
    return cause[:1].lower() + cause[1:] if cause[1:2].islower() else cause


def _where(url: str) -> str:
    parsed = urlsplit(url)
    if parsed.scheme == "unix":
        return parsed.path
    return f"{parsed.hostname or 'localhost'}:{parsed.port or 6379}"


def redis_connection(url: str) -> redis.Redis:
    # Short timeouts: a hung Redis must not hold up a write that is already durable.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30)


REPLAY = "services.projector.jobs.replay"
REPLAY_TIMEOUT = 6 * 3600  # a replay of a very long log takes long; it is not a catch-up


def enqueue_replay(connection: redis.Redis, queue_name: str, replay_id: str) -> None:
    """Ask a projector worker to run a replay (raises redis.RedisError if Redis is down)."""
    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    queue.enqueue(
        REPLAY,
        replay_id,
        job_id=f"{queue_name}-replay-{replay_id}",
        job_timeout=REPLAY_TIMEOUT,
        result_ttl=3600,
        failure_ttl=24 * 3600,
    )
