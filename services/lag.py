"""How far behind the log a projection is: the one answer every caller gives.

The reconciler rings (or folds) when the live projection is behind; `GET /v1/admin/projections`
and `/metrics` report each projection's lag; a replay's progress counts what its build has left.
All of them read it here, from the projection's checkpoint and the log in one snapshot:

- `events`: events recorded after the checkpoint (counted: a rolled-back append leaves a gap in the
  positions, so the head's position minus the checkpoint's may overstate it);
- `seconds`: how long the oldest of them has waited (0 when none does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from services.store import checkpoints, event_log
from services.store.checkpoints import Checkpoint
from services.store.read_models import PROJECTION
from services.store.schema import events


@dataclass(frozen=True)
class Waiting:
    """The events after a position: how many, and when the oldest was recorded."""

    events: int
    oldest: datetime | None

    def seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


@dataclass(frozen=True)
class Lag:
    """A projection's place behind the log."""

    name: str
    checkpoint: Checkpoint | None  # None: it has not folded anything yet
    head: int  # the newest event's position
    waiting: Waiting

    @property
    def position(self) -> int:
        return self.checkpoint.position if self.checkpoint else 0

    @property
    def stopped(self) -> bool:
        """Stopped by a failing event: it will not move until replayed, however far behind."""
        return self.checkpoint is not None and self.checkpoint.status != "running"

    @property
    def behind(self) -> bool:
        """It has events to fold and is running: worth a ring."""
        return self.waiting.events > 0 and not self.stopped


def waiting_after(conn: sa.Connection, position: int) -> Waiting:
    """The events recorded after `position` (one query, in the caller's snapshot)."""
    found = conn.execute(
        sa.select(sa.func.count(), sa.func.min(events.c.recorded_at)).where(events.c.position > position)
    ).one()
    return Waiting(int(found[0]), found[1])


def lag(conn: sa.Connection, name: str = PROJECTION) -> Lag:
    """`name`'s lag behind the log (in the caller's snapshot)."""
    checkpoint = checkpoints.read(conn, name)
    return _lag(conn, name, checkpoint, event_log.last_position(conn))


def lags(conn: sa.Connection, always: Iterable[str] = ()) -> list[Lag]:
    """Every projection with a checkpoint, and those in `always` even before they have one, by name."""
    saved = {c.name: c for c in checkpoints.read_all(conn)}
    head = event_log.last_position(conn)
    names = sorted(set(saved) | set(always))
    return [_lag(conn, name, saved.get(name), head) for name in names]


def _lag(conn: sa.Connection, name: str, checkpoint: Checkpoint | None, head: int) -> Lag:
    position = checkpoint.position if checkpoint else 0
    waiting = waiting_after(conn, position) if head > position else Waiting(0, None)
    return Lag(name, checkpoint, head, waiting)


def now() -> datetime:
    return datetime.now(UTC)
