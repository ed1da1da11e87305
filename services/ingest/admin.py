"""Admin routes (admin key): replay the read models, watch replays and projections.

A replay runs where projection runs: an RQ job on a projector worker, or a thread of the embedded
projector (`make run`). The app factory says which, by the ReplayRunner it wires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from pydantic import BaseModel

from services import lag as projection_lag
from services.doorbell import enqueue_replay
from services.store import replay_runners, replays
from services.store.checkpoints import Checkpoint
from services.store.replays import Replay
from services.web.auth import BEARER, authenticated_route
from services.web.context import AppContext
from services.web.deps import ContextDep, RuntimeDep
from services.web.problems import problem_responses
from services.web.runtime import Runtime


@dataclass
class ReplayRunner:
    """Where a replay runs: `run(replay_id)` hands it over, and raises if it cannot."""

    run: Callable[[str], None]


log = structlog.get_logger(__name__)

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[Depends(BEARER)],
    route_class=authenticated_route("admin"),
    responses=problem_responses(400, 401, 403, 503),
)


class ReplayOut(BaseModel):
    replay_id: str
    status: Literal["queued", "running", "done", "failed"]
    processed: int
    total: int
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ReplayStarted(BaseModel):
    replay_id: str
    status: str


class ProjectionOut(BaseModel):
    name: str
    position: int
    generation: int
    status: str
    error: str | None
    head: int
    lag_events: int
    lag_seconds: float
    updated_at: datetime


class ProjectionsOut(BaseModel):
    items: list[ProjectionOut]


@router.post("/replay", status_code=202, responses=problem_responses(503))
def start_replay(context: ContextDep) -> ReplayStarted:
    """Rebuild every read model from position 0 beside the live ones, then swap them in.

    One replay at a time: while one is queued or running, this answers with that one. One whose
    runner died, or that no runner took within REPLAY_START_TIMEOUT, is failed first. When the new
    one cannot be handed to a runner (Redis down), it is failed and the answer is 503.
    """
    runtime, runner = context.runtime, context.find(ReplayRunner)
    if runner is None:
        raise HTTPException(503, "no projector is configured to run replays (set REDIS_URL)")
    # A replay whose runner died, or never came, blocks no other.
    replay_runners.fail_abandoned(runtime.db, runtime.settings.replay_start_timeout)
    with runtime.db.transaction() as conn:
        replay, created = replays.start(conn)
    if created:
        _hand_over(runner, runtime, replay.replay_id)
    return ReplayStarted(replay_id=replay.replay_id, status=replay.status)


def _hand_over(runner: ReplayRunner, runtime: Runtime, replay_id: str) -> None:
    """Give a new replay to its runner; if that fails, fail the replay (so it blocks no later
    one) and answer 503."""
    try:
        runner.run(replay_id)
    except Exception as exc:  # whatever the runner raised: the replay cannot run, and must not stay queued
        with runtime.db.transaction() as conn:
            replays.fail(conn, replay_id, "queued", f"it could not be started: {exc}", datetime.now(UTC))
        log.error("replay.not_started", replay_id=replay_id, error=str(exc))
        raise HTTPException(
            503, f"replay {replay_id} could not be started ({type(exc).__name__}); it is marked failed"
        ) from exc


@router.get("/replays/{replay_id}", responses=problem_responses(404))
def get_replay(replay_id: str, runtime: RuntimeDep) -> ReplayOut:
    """A replay's status, and the events processed out of the total so far."""
    replay_runners.fail_abandoned(runtime.db, runtime.settings.replay_start_timeout)
    with runtime.db.snapshot() as conn:
        replay = replays.get(conn, replay_id)
    if replay is None:
        raise HTTPException(404, f"no replay {replay_id!r}")
    return _replay_out(replay)


@router.get("/projections")
def projections(runtime: RuntimeDep) -> ProjectionsOut:
    """Each projection (and replay being built): its position and its lag behind the log."""
    with runtime.db.snapshot() as conn:
        found = projection_lag.lags(conn)
    now = projection_lag.now()
    items = [_projection(lag, lag.checkpoint, now) for lag in found if lag.checkpoint is not None]
    return ProjectionsOut(items=items)


def _projection(lag: projection_lag.Lag, checkpoint: Checkpoint, now: datetime) -> ProjectionOut:
    return ProjectionOut(
        name=checkpoint.name,
        position=checkpoint.position,
        generation=checkpoint.generation,
        status=checkpoint.status,
        error=checkpoint.error,
        head=lag.head,
        lag_events=lag.waiting.events,
        lag_seconds=round(lag.waiting.seconds(now), 3),
        updated_at=checkpoint.updated_at,
    )


def install(app: FastAPI) -> None:
    """Add the admin routes (their replay runner is the app's: `queued_replays`, or the embedded one)."""
    app.include_router(router)


def queued_replays(context: AppContext) -> None:
    """Replays as RQ jobs on the projector's queue, when Redis is configured (else none: 503)."""
    connection, queue = context.runtime.redis, context.runtime.settings.queue_name
    if connection is not None:
        context.provide(
            ReplayRunner, ReplayRunner(lambda replay_id: enqueue_replay(connection, queue, replay_id))
        )


def _replay_out(replay: Replay) -> ReplayOut:
    fields: dict[str, Any] = {name: getattr(replay, name) for name in ReplayOut.model_fields}
    return ReplayOut(**fields)
