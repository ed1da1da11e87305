"""RQ jobs. Importable, context-free, primitive arguments: a job only says "catch up"; the log and
the checkpoint say with what, so running one twice, or never, is harmless."""

from __future__ import annotations

from typing import Any

import structlog

from services.projector import process
from services.projector.replay import batch_size_for, run_replay
from services.projector.runner import catch_up as run_catch_up
from services.store.read_models import PROJECTION

log = structlog.get_logger(__name__)


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
