"""Replay: rebuild every read model from position 0 into new tables while the live ones serve,
then swap them in one transaction.

Readers never see a half-built model: until the swap they read the live tables, and the swap, under
the live checkpoint's lock (so the live projector pauses) and an exclusive lock on the live tables
(so readers wait a moment rather than read across it), folds the last events into the new set,
renames it into place, bumps the projection's generation and drops the old set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog

from services.lag import waiting_after
from services.projector import rebuild
from services.projector.runner import FAR_BEHIND_BATCH, fold_within
from services.store import checkpoints, event_log, read_model_sets, replay_runners, replays
from services.store.database import Database
from services.store.read_models import PROJECTION, ReadModelTables, tables

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]
# Called inside the swap's transaction with the events it folded: raising rolls the swap back.
BeforeSwap = Callable[[sa.Connection, int], None]


class ReplayAbandoned(Exception):
    """Someone else marked this runner's replay `failed` (they took its runner for dead, see
    store/replay_runners.py): the runner stops, and its rebuilt set is never swapped in."""

    def __init__(self, replay_id: str) -> None:
        super().__init__(f"replay {replay_id} was marked failed while it ran: stopped, nothing swapped in")
        self.replay_id = replay_id


# A replay folds the whole log: it is always far behind (see FAR_BEHIND_BATCH).
MIN_BATCH = FAR_BEHIND_BATCH


def batch_size_for(configured: int) -> int:
    """The batch size a replay uses, given the projector's configured one."""
    return max(configured, MIN_BATCH)


def run_replay(
    db: Database, replay_id: str, batch_size: int = MIN_BATCH, progress: Progress | None = None
) -> None:
    """Rebuild into a new set of tables, keeping the replay record current; swap when caught up.

    Only a `queued` replay is run (a job run again after its replay was failed does nothing), and
    its runner lock is held throughout: should this process die, the next replay finds it free
    and fails this one (see store/replay_runners.py).
    """
    with replay_runners.holding(db, replay_id):
        if not _claim(db, replay_id):
            log.warning("replay.not_queued", replay_id=replay_id)
            return
        _run(db, replay_id, batch_size, progress)


def _claim(db: Database, replay_id: str) -> bool:
    with db.transaction() as conn:
        return replays.claim(conn, replay_id, datetime.now(UTC))


def _run(db: Database, replay_id: str, batch_size: int, progress: Progress | None) -> None:
    suffix = replay_runners.scratch_suffix(replay_id)
    try:
        drop_retired(db)  # what a swap interrupted after its commit left behind, if anything
        built = rebuild.create(db, suffix)
        processed = _build(db, replay_id, suffix, built, batch_size, progress)
        processed += swap(db, suffix, batch_size, before_swap=_marking_done(replay_id, processed))
    except Exception as exc:
        _stop(db, replay_id, suffix, exc)
        raise
    # The retired set is dropped once the swap has committed, not inside it, so that readers do
    # not wait for it. Should this process die in between, the next replay drops the leftovers.
    drop_retired(db)
    log.info("replay.done", replay_id=replay_id, events=processed)


def _stop(db: Database, replay_id: str, suffix: str, exc: Exception) -> None:
    """Mark the replay failed by `exc` and drop what it built; raise ReplayAbandoned instead when
    someone else had failed it (its tables gone: the likely cause of `exc`), keeping their verdict."""
    failed_here = not isinstance(exc, ReplayAbandoned) and _fail(db, replay_id, str(exc))
    rebuild.drop(db, suffix)
    if failed_here:
        log.error("replay.failed", replay_id=replay_id, error=str(exc))
        return
    log.warning("replay.abandoned", replay_id=replay_id, error=str(exc))
    if not isinstance(exc, ReplayAbandoned):
        raise ReplayAbandoned(replay_id) from exc


def _marking_done(replay_id: str, built: int) -> BeforeSwap:
    """Mark the replay `done` in the swap's own transaction, only if it is still `running`: a
    replay someone has failed meanwhile is never swapped in, nor shown `done` (and one that is
    being swapped in cannot be failed: the row is locked to the swap's commit)."""

    def mark(conn: sa.Connection, folded: int) -> None:
        total = built + folded
        now = datetime.now(UTC)
        if not replays.update(conn, replay_id, status="done", processed=total, total=total, finished_at=now):
            raise ReplayAbandoned(replay_id)

    return mark


def _build(
    db: Database,
    replay_id: str,
    suffix: str,
    built: ReadModelTables,
    batch_size: int,
    progress: Progress | None,
) -> int:
    """Fold the log into the new set as one batch (see rebuild.build), keeping the replay's record
    current after each chunk it reads (no larger than `batch_size`); stops if the replay is
    failed meanwhile."""

    # The log's length, counted once: a count of the rest after every chunk cost 1.4 s of a
    # 1M-event replay. What arrives meanwhile is folded by the swap, which sets the true total.
    expected = _remaining(db, 0)

    def report(read: int, position: int) -> None:
        total = max(expected, read)
        _mark(db, replay_id, processed=read, total=total)  # raises if it is failed meanwhile
        if progress is not None:
            progress(read, total)

    return rebuild.build(db, suffix, built, report, chunk=min(batch_size, rebuild.READ_CHUNK))


def swap(db: Database, suffix: str, batch_size: int, before_swap: BeforeSwap | None = None) -> int:
    """Fold the last events into the built set and put it in place of the live one, atomically
    (`before_swap` runs in the same transaction, after the fold; if it raises, nothing changes)."""
    built, live = tables(suffix), tables()
    with db.transaction() as conn:
        current = checkpoints.lock(conn, PROJECTION)  # the live projector waits from here on
        # Up to the head as it is now: reports keep arriving, and what comes after is the live
        # projector's to fold once the swap is done (it resumes from the swapped-in checkpoint).
        head = event_log.last_position(conn)
        folded = fold_within(conn, rebuild.build_name(suffix), built, batch_size, upto=head)
        position = checkpoints.lock(conn, rebuild.build_name(suffix)).position
        if before_swap is not None:
            before_swap(conn, folded)
        retired = f"__old{uuid.uuid4().hex[:8]}"  # see read_model_sets.RETIRED
        _lock_exclusively(conn, live)
        read_model_sets.swap(conn, suffix, retired)
        checkpoints.swap_in(conn, current, position)
        checkpoints.delete(conn, rebuild.build_name(suffix))
    return folded


def drop_retired(db: Database) -> None:
    """Drop every read-model table a swap retired (`<name>__old<hex>`)."""
    with db.transaction() as conn:
        for retired in read_model_sets.retired_suffixes(conn):
            read_model_sets.drop(conn, retired)


def _lock_exclusively(conn: sa.Connection, live: ReadModelTables) -> None:
    # From here readers wait for the swap instead of reading across it.
    read_model_sets.lock_out_readers(conn, live)


def _remaining(db: Database, position: int) -> int:
    with db.snapshot() as conn:
        return waiting_after(conn, position).events


def _mark(db: Database, replay_id: str, **fields: object) -> None:
    with db.transaction() as conn:
        if not replays.update(conn, replay_id, **fields):
            raise ReplayAbandoned(replay_id)


def _fail(db: Database, replay_id: str, error: str) -> bool:
    """Mark the running replay failed; False when it was no longer running (someone failed it)."""
    with db.transaction() as conn:
        return replays.fail(conn, replay_id, "running", error, datetime.now(UTC))
