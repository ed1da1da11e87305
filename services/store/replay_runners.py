"""Who is running a replay: a lock its runner holds for as long as it lives.

A replay is marked `running` by its runner (`frontline replay`, an RQ worker, the embedded
projector's thread). Killed with SIGKILL, the runner never marks it `done` or `failed`, and one
replay at a time means every later one would wait for it forever. So the runner holds a lock that
the operating system or the database releases the moment the process dies:

- PostgreSQL: a session-level advisory lock (keyed by the replay) on a connection of its own,
  idle while the replay works, so its server process sees the client's socket close at once;
- SQLite: an flock on a file beside the database (`<file>.replay-<id>.lock`), released by the
  kernel with the process's file descriptors.

Whoever wants to start a replay, or asks after one, first fails every `running` replay whose lock
is free (`fail_abandoned`): under that same lock, so the runner cannot be finishing meanwhile,
and only if the record still says `running` when re-read.

A replay can also die before any runner holds its lock: starting it failed (Redis down: the route
fails it itself), its RQ job was lost (Redis flushed), or the worker died between taking the job
and claiming the replay. Such a replay stays `queued`; one queued for longer than the start
timeout (REPLAY_START_TIMEOUT) whose lock is free is failed the same way. Its job, should it
still run, then finds it not queued and does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog

from services.store import read_model_sets
from services.store import replays as replay_records
from services.store.database import Database
from services.store.read_models import PROJECTION, replays

log = structlog.get_logger(__name__)


def scratch_suffix(replay_id: str) -> str:
    """The suffix of the tables a replay builds (`rm_place_state__r<id>`...)."""
    return f"__r{replay_id[:10]}"


def scratch_checkpoint(replay_id: str) -> str:
    """The checkpoint name of the set a replay builds."""
    return f"{PROJECTION}{scratch_suffix(replay_id)}"


@contextlib.contextmanager
def holding(db: Database, replay_id: str) -> Iterator[None]:
    """Hold `replay_id`'s runner lock while the block runs (the runner's side)."""
    with _locked(db, replay_id, wait=True) as held:
        assert held
        yield


def fail_abandoned(db: Database, start_timeout: float) -> list[str]:
    """Mark `failed` every replay whose runner is gone (running, its lock free) or never came
    (queued for more than `start_timeout` seconds, its lock free), and drop what it built; returns
    their ids. Cheap when none is active (one query)."""
    queued_before = datetime.now(UTC) - timedelta(seconds=start_timeout)
    stale = sa.or_(
        replays.c.status == "running",
        sa.and_(replays.c.status == "queued", replays.c.requested_at < queued_before),
    )
    with db.snapshot() as conn:
        found = conn.execute(sa.select(replays.c.replay_id, replays.c.status).where(stale)).all()
    reasons = {"running": "its runner died", "queued": f"no runner started it within {start_timeout:g} s"}
    return [
        replay_id for replay_id, status in found if _fail_if_abandoned(db, replay_id, status, reasons[status])
    ]


def _fail_if_abandoned(db: Database, replay_id: str, status: str, reason: str) -> bool:
    with _locked(db, replay_id, wait=False) as free:
        if not free:
            return False  # its runner lives (or is starting it)
        with db.transaction() as conn:
            failed = replay_records.fail(conn, replay_id, status, reason, datetime.now(UTC))
        if failed:
            drop_scratch(db, replay_id)
            log.warning("replay.abandoned", replay_id=replay_id, status=status, reason=reason)
        return failed


def drop_scratch(db: Database, replay_id: str) -> None:
    """Drop the tables and the checkpoint a replay built (nothing, if it built none)."""
    with db.transaction() as conn:
        read_model_sets.drop(conn, scratch_suffix(replay_id))
        conn.execute(
            sa.text("DELETE FROM projections WHERE name = :name"), {"name": scratch_checkpoint(replay_id)}
        )


def _locked(db: Database, replay_id: str, wait: bool) -> AbstractContextManager[bool]:
    """The runner lock of `replay_id`: taken (waiting for it, or not), yielding whether it was."""
    return db.backend.replay_runner_lock(db.engine, replay_id, wait)
