"""RQ jobs. Importable, context-free, primitive arguments: a job only says "catch up"; the log and
the checkpoint say with what, so running one twice, or never, is harmless."""

from __future__ import annotations

from typing import Any

import structlog
from rq import get_current_job

from services.doorbell import Ear
from services.projector import process
from services.projector.replay import batch_size_for, run_replay
from services.projector.runner import catch_up as run_catch_up
from services.store.read_models import PROJECTION

log = structlog.get_logger(__name__)


# Seconds a catch-up job at the log's end waits for the next ring before it ends. While it waits its
# worker takes no other job: a replay asked meanwhile starts at most this much later.
WAIT_FOR_RING = 1.0


def catch_up(projection: str = PROJECTION) -> dict[str, Any]:
    """Fold what the log holds beyond the projection's checkpoint into its read models."""
    if projection != PROJECTION:
        raise ValueError(f"unknown projection {projection!r}")
    context = process.current()
    job = get_current_job()  # None when called outside a worker: then it ends at the log's end
    # Stay well inside the job timeout; if more is left, the worker's reconciler rings again.
    result = run_catch_up(
        context.database(),
        projection,
        batch_size=context.settings.projection_batch_size,
        budget=context.settings.job_timeout * 0.5,
        linger=context.settings.projection_linger,
        ear=Ear(job.connection, job.id) if job is not None else None,
        idle=WAIT_FOR_RING,
    )
    log.info("projection.caught_up", projection=projection, events=result.events, position=result.position)
    return {"events": result.events, "position": result.position, "caught_up": result.caught_up}


def replay(replay_id: str) -> dict[str, Any]:
    """Rebuild the read models from position 0 and swap them in (see replay.py)."""
    context = process.current()
    run_replay(
        context.database(), replay_id, batch_size=batch_size_for(context.settings.projection_batch_size)
    )
    return {"replay_id": replay_id}
