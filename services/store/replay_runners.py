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
import fcntl
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import structlog

from services.store import read_model_sets
from services.store import replays as replay_records
from services.store.database import Database
from services.store.read_models import PROJECTION, replays

log = structlog.get_logger(__name__)

# pg_advisory_lock(classid, objid): the class of replay-runner locks (the migrations and the log
# use single bigint keys, which live in a separate key space).
RUNNER_LOCKS = 734003


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


@contextlib.contextmanager
def _locked(db: Database, replay_id: str, wait: bool) -> Iterator[bool]:
    """The runner lock of `replay_id`: taken (waiting for it, or not), yielding whether it was."""
    if db.is_postgres:
        with _advisory(db, replay_id, wait) as held:
            yield held
        return
    path = _lock_file(db, replay_id)
    if path is None:
        yield wait  # an in-memory database lives and dies with its one process: never abandoned
        return
    with _flocked(path, wait) as held:
        yield held


@contextlib.contextmanager
def _advisory(db: Database, replay_id: str, wait: bool) -> Iterator[bool]:
    key = {"cls": RUNNER_LOCKS, "obj": _objid(replay_id)}
    with db.engine.connect() as conn:
        take = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        held = conn.execute(sa.text(f"SELECT {take}(:cls, :obj)"), key).scalar() is not False
        conn.commit()  # session-level: outlives the transaction, idle from here on
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:cls, :obj)"), key)
                conn.commit()


def _objid(replay_id: str) -> int:
    return zlib.crc32(replay_id.encode()) - 2**31  # an int4


def _lock_file(db: Database, replay_id: str) -> Path | None:
    database = sa.make_url(db.url).database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.replay-{replay_id}.lock")


@contextlib.contextmanager
def _flocked(path: Path, wait: bool) -> Iterator[bool]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            # Removed while still held, so no one opens it after we let go and finds it free
            # although a runner of the same id (there is none after us) might still come.
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
