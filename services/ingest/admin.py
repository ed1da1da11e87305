"""Admin routes (admin key): replay the read models, watch replays and projections.

A replay runs where projection runs: an RQ job on a projector worker, or a thread of the embedded
projector (`make run`). The app factory says which by setting `app.state.replay_runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from services.doorbell import enqueue_replay
from services.store import checkpoints, event_log, replay_runners, replays
from services.store.replays import Replay
from services.store.schema import events
from services.web.auth import BEARER, authenticated_route
from services.web.deps import RuntimeDep
from services.web.problems import problem_responses
from services.web.runtime import Runtime

ReplayRunner = Callable[[str], None]

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
def start_replay(request: Request, runtime: RuntimeDep) -> ReplayStarted:
    """Rebuild every read model from position 0 beside the live ones, then swap them in.

    One replay at a time: while one is queued or running, this answers with that one. One whose
    runner died, or that no runner took within REPLAY_START_TIMEOUT, is failed first. When the new
    one cannot be handed to a runner (Redis down), it is failed and the answer is 503.
    """
    runner: ReplayRunner | None = getattr(request.app.state, "replay_runner", None)
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
        runner(replay_id)
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
        head = event_log.last_position(conn)
        items = [_projection(conn, c, head) for c in checkpoints.read_all(conn)]
    return ProjectionsOut(items=items)


def _projection(conn: sa.Connection, checkpoint: checkpoints.Checkpoint, head: int) -> ProjectionOut:
    behind = conn.execute(
        sa.select(sa.func.count(), sa.func.min(events.c.recorded_at)).where(
            events.c.position > checkpoint.position
        )
    ).one()
    oldest: datetime | None = behind[1]
    lag_seconds = max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
    return ProjectionOut(
        name=checkpoint.name,
        position=checkpoint.position,
        generation=checkpoint.generation,
        status=checkpoint.status,
        error=checkpoint.error,
        head=head,
        lag_events=int(behind[0]),
        lag_seconds=round(lag_seconds, 3),
        updated_at=checkpoint.updated_at,
    )


def install(app: FastAPI) -> None:
    """Add the admin routes; replays go to RQ when Redis is configured (embedded mode overrides)."""
    app.include_router(router)
    app.state.on_start.append(_queue_replays)


def _queue_replays(app: FastAPI, runtime: Runtime) -> None:
    if runtime.redis is not None:
        queue = runtime.settings.queue_name
        app.state.replay_runner = lambda replay_id: enqueue_replay(runtime.redis, queue, replay_id)


def _replay_out(replay: Replay) -> ReplayOut:
    fields: dict[str, Any] = {name: getattr(replay, name) for name in ReplayOut.model_fields}
    return ReplayOut(**fields)
