"""Catching a projection up with the log: batch after batch, each in one transaction with its
checkpoint, until there is nothing new (or the time budget is spent)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
import structlog

from services.domain.events import RecordedEvent
from services.projector.batch import Batch, ProjectionError
from services.projector.pace import Pace
from services.store import checkpoints
from services.store.backend import backend_of
from services.store.control_store import ControlReader, insert_claims, write_changes
from services.store.database import Database
from services.store.read_models import PROJECTION, ReadModelTables, tables

log = structlog.get_logger(__name__)

# How many events a projection far behind the log folds at a time (the most a catch-up's batches
# grow to; a replay's swap folds what arrived during its build in batches this large): a batch loads
# and writes the state of every place it touches once and folds each place once, so fewer, larger
# batches do less work per event, and late claims within one cost nothing extra. (A replay's build
# is one batch of the whole log: services/projector/rebuild.py.)
FAR_BEHIND_BATCH = 200_000


class Rings(Protocol):
    """The doorbell as a running catch-up hears it (services.doorbell.Ear)."""

    def rang(self) -> bool:
        """Whether it rang since last asked."""
        ...

    def forget(self) -> None:
        """Drop a ring not yet heard."""
        ...

    def wait(self, seconds: float) -> bool:
        """Whether it rings within `seconds` (or rang since last asked)."""
        ...


@dataclass
class CatchUp:
    events: int = 0
    batches: int = 0
    position: int = 0
    failed: str | None = None
    caught_up: bool = False


def catch_up(
    db: Database,
    name: str = PROJECTION,
    read_models: ReadModelTables | None = None,
    batch_size: int = 5000,
    budget: float = float("inf"),
    linger: float = 0.0,
    ear: Rings | None = None,
    idle: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> CatchUp:
    """Fold the events after the checkpoint into the read models until there are none left.

    A batch that comes back full says the projection is behind: the next one is four times as
    large, up to FAR_BEHIND_BATCH (or `batch_size`, if larger); one that does not, starts over at
    `batch_size`. Growing rather than jumping keeps the first batches after a start short, so a
    worker killed soon after it starts loses little; growing fourfold rather than twofold makes
    fewer batches (5,000, 20,000, 80,000, then 200,000 events), and so fewer late claims that
    re-fold what an earlier batch stored: 200,000 events from empty caught up at 0.35 of the raw
    ordered read rather than 0.27 (BENCHMARKS.md, history: the fourth stop).

    A batch that comes back short has reached the log's end. Without an `ear`, the next looks only
    after `linger` seconds, so that while reports keep arriving it folds all that came meanwhile
    rather than a transaction per report (docs/performance-notes.md, fifth stop); the loop ends at
    the first batch that finds nothing. With the `ear` of its job, it looks again only when the
    doorbell rang, paced: under a stream of reports it folds once per `linger` on average,
    whatever their rate (at 200 reports/s and 50 ms, about 20 transactions a second, as at 20
    reports/s), while a report after a pause, or the next after a late one, is folded at once
    (see services.projector.pace). It ends when no ring comes for `idle` seconds.

    `on_batch` is told the checkpoint's position after each batch that folded events, once it
    committed. Returns early (caught_up False) after `budget` seconds; raises ProjectionError after
    marking the projection failed when an event cannot be applied.
    """
    read_models = read_models or tables()
    result = CatchUp()
    deadline = time.monotonic() + budget
    size = batch_size
    pace = Pace()
    while time.monotonic() < deadline:
        folded, position = project_next_batch(db, name, read_models, size)
        result.position = position
        if folded:
            result.events += folded
            result.batches += 1
            if on_batch is not None:
                on_batch(position)
        if folded == size:
            size = min(size * 4, max(batch_size, FAR_BEHIND_BATCH))
            continue
        size = batch_size
        again = _look_again(folded, linger, ear, idle, deadline, pace)
        if not again:
            result.caught_up = again is False
            return result
    return result


def _look_again(
    folded: int, linger: float, ear: Rings | None, idle: float, deadline: float, pace: Pace
) -> bool | None:
    """After a batch that reached the log's end (`folded` events): wait as the next look should,
    then whether to take it; None when there is no time left to (what arrives now is the next
    job's).

    Without an ear: not after a batch that found nothing, else after `linger`. With one: once a
    ring came (during the batch, or within `idle` after it), when the `pace` lets it; not when
    none came. A ring that comes as the job ends (its key not yet gone) is the reconciler's to
    answer.
    """
    if ear is None:
        if folded == 0:
            return False
        resume = time.monotonic() + linger
    else:
        if not ear.rang() and not ear.wait(min(idle, deadline - time.monotonic())):
            return False
        resume = pace.next_look(linger)
    if resume >= deadline:
        return None
    wait = resume - time.monotonic()
    if wait > 0:
        time.sleep(wait)
        if ear is not None:
            # What rang while it waited is for the batch it folds now: heard after that batch, it
            # would make the job wait for nothing, or fold nothing. (Not waiting, it heard all.)
            ear.forget()
    return True


def fold_within(
    conn: sa.Connection, name: str, read_models: ReadModelTables, batch_size: int, upto: int | None = None
) -> int:
    """Inside the caller's transaction, fold everything after `name`'s checkpoint (up to `upto`)."""
    folded = 0
    while True:
        checkpoint = checkpoints.lock(conn, name)
        events = backend_of(conn).events_after(conn, checkpoint.position, batch_size, upto)
        if not events:
            return folded
        position = project_events(conn, read_models, events)
        checkpoints.advance(conn, checkpoint, position)
        folded += len(events)


def project_next_batch(
    db: Database, name: str, read_models: ReadModelTables, batch_size: int
) -> tuple[int, int]:
    """Project the next batch in one transaction; returns (events folded, checkpoint position)."""
    try:
        with db.transaction() as conn:
            checkpoint = checkpoints.lock(conn, name)
            if checkpoint.status == "failed":
                log.warning("projection.stopped", projection=name, error=checkpoint.error)
                return 0, checkpoint.position
            events = backend_of(conn).events_after(conn, checkpoint.position, batch_size, None)
            if not events:
                return 0, checkpoint.position
            position = project_events(conn, read_models, events)
            checkpoints.advance(conn, checkpoint, position)
            return len(events), position
    except ProjectionError as exc:
        with db.transaction() as conn:
            checkpoints.fail(conn, name, str(exc))
        log.error("projection.failed", projection=name, position=exc.position, error=str(exc))
        raise


def project_events(conn: sa.Connection, read_models: ReadModelTables, events: list[RecordedEvent]) -> int:
    """Fold `events` onto the read models and write the rows, in the caller's transaction; returns
    the position the read models are then at."""
    batch = Batch(ControlReader(conn, read_models))
    batch.feed(events)
    return write_batch(conn, read_models, batch)


def write_batch(conn: sa.Connection, read_models: ReadModelTables, batch: Batch) -> int:
    """Fold a fed batch and write its rows, in the caller's transaction; returns the position the
    read models are then at. Each new claim goes to COPY as soon as its place is folded, so that
    PostgreSQL stores and indexes the rows while the next places fold rather than after them all:
    a catch-up far behind waited a seventh of its time for that (docs/performance-notes.md). (The COPY thus
    stays open while the batch folds: a server's `statement_timeout`, if set, bounds both.)"""
    if batch.new:
        insert_claims(conn, read_models, batch.fold())
    changes = batch.changes()
    write_changes(conn, read_models, changes)
    return changes.position
