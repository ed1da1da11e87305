"""The projector worker: RQ's SimpleWorker plus a reconciler thread.

`rq worker -w services.projector.worker.ProjectorWorker --serializer rq.serializers.JSONSerializer`
(or `frontline worker`, which does the same with the configured queue and Redis). SimpleWorker
runs jobs in the worker process itself, so the database pool is reused from job to job instead of
reconnecting in a fresh fork each time; the stock forking worker also works (see process.py).
"""

from __future__ import annotations

from typing import Any

import structlog
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from services import collector, logs
from services.doorbell import QueueDoorbell
from services.projector import process
from services.projector.reconciler import Reconciler
from services.store.read_models import PROJECTION


class ProjectorWorker(SimpleWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Read (and check) the settings before anything else, so that a bad variable stops the
        # stock `rq worker` command at once, naming it; and log as every other process does.
        settings = process.current().settings
        logs.configure(settings.log_level, settings.log_format)
        # RQ declares a job abandoned (its worker died) only during maintenance: run it every
        # 30 s rather than every 10 min, so that a killed worker's job frees its id soon.
        kwargs.setdefault("maintenance_interval", 30)
        super().__init__(*args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        context = process.current()
        settings = context.settings
        doorbell = QueueDoorbell(self.connection, self.queues[0].name, PROJECTION, settings.job_timeout)
        reconciler = Reconciler(
            context.database(), doorbell, settings.reconcile_interval, settings.projection_batch_size
        )
        reconciler.tick()  # catch up with whatever arrived while no worker ran
        reconciler.start()
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            reconciler.stop()

    def request_stop(self, signum: Any, frame: Any) -> None:
        # RQ's warm shutdown waits for the running job: a catch-up waiting for the next report
        # hears this and ends after its batch, instead of serving a stream until its time is up.
        process.current().stopping.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # (RQ's is unannotated)

    def unsubscribe(self) -> None:
        # RQ's own, with the one-second bound it means. Since redis-py 8.2 the pubsub thread's
        # stop() waits for the thread with none, and the thread may be waiting for a subscription
        # for up to a minute (RQ runs it with sleep_time=60): a warm shutdown hung that long
        # (caught by test_a_worker_asked_to_stop_during_a_stream_stops_after_its_batch, under load).
        if self.pubsub_thread:
            self.pubsub.unsubscribe()
            self.pubsub_thread.stop(timeout=1)
            self.pubsub.close()

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Every line logged while the job runs (RQ's own included) says which job it is.
        # The worker process does nothing but run jobs: the collector may wait for a job's end.
        with structlog.contextvars.bound_contextvars(job_id=job.id, queue=queue.name), collector.paused():
            super().execute_job(job, queue)
