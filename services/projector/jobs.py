"""RQ jobs. Importable, context-free, primitive arguments: a job only says "catch up"; the log and
the checkpoint say with what, so running one twice, or never, is harmless."""

from __future__ import annotations

from typing import Any

import structlog
from rq import Queue, get_current_job

from services.doorbell import Ear
from services.projector import process
from services.projector.replay import batch_size_for, run_replay
from services.projector.runner import catch_up as run_catch_up
from services.store.read_models import PROJECTION

log = structlog.get_logger(__name__)


# Seconds a catch-up job at the log's end waits for the next ring before it ends. It hears no ring
# once another job waits in its queue (a replay) or its worker is asked to stop (services.doorbell.Ear):
# either waits at most this long, and a batch.
WAIT_FOR_RING = 1.0


def catch_up(projection: str = PROJECTION) -> dict[str, Any]:
    """Fold what the log holds beyond the projection's checkpoint into its read models."""
    if projection != PROJECTION:
        raise ValueError(f"unknown projection {projection!r}")
    context = process.current()
    # Stay well inside the job timeout; if more is left, the worker's reconciler rings again.
    result = run_catch_up(
        context.database(),
        projection,
        batch_size=context.settings.projection_batch_size,
        budget=context.settings.job_timeout * 0.5,
        linger=context.settings.projection_linger,
        ear=_ear(context),
        idle=WAIT_FOR_RING,
    )
    log.info("projection.caught_up", projection=projection, events=result.events, position=result.position)
    return {"events": result.events, "position": result.position, "caught_up": result.caught_up}


def _ear(context: process.ProjectorContext) -> Ear | None:
    """The running job's ear for the doorbell; None when called outside a worker (then the
    catch-up ends at the log's end)."""
    job = get_current_job()
    if job is None:
        return None
    return Ear(job.connection, job.id, Queue.redis_queue_namespace_prefix + job.origin, context.stopping)


def replay(replay_id: str) -> dict[str, Any]:
    """Rebuild the read models from position 0 and swap them in (see replay.py)."""
    context = process.current()
    run_replay(
        context.database(), replay_id, batch_size=batch_size_for(context.settings.projection_batch_size)
    )
    return {"replay_id": replay_id}
