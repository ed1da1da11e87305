"""The reconciler: rings the doorbell whenever the log is ahead of a projection's checkpoint.

Doorbells get lost: Redis restarts or is flushed, an enqueue fails after the report committed, a
catch-up ends just as a report lands. A reconciler in every worker compares the log's head with the
checkpoint every few seconds and rings when they differ, so a lost ring costs seconds, never data.

A ring can also fall on deaf ears: a worker killed mid-job leaves its job "started" in Redis until
RQ's maintenance declares it abandoned, and the fixed job id refuses new rings until then. So when
the projection is behind and has not moved for several ticks, the reconciler folds the events
itself; the projection's database lock makes that safe beside any job.
"""

from __future__ import annotations

import sqlalchemy as sa
import structlog

from services import lag as projection_lag
from services.doorbell import Doorbell
from services.loops import Loop
from services.projector.batch import ProjectionError
from services.projector.runner import catch_up
from services.store.database import Database
from services.store.errors import StoreError
from services.store.read_models import PROJECTION

log = structlog.get_logger(__name__)

STUCK_AFTER_TICKS = 5


class Reconciler(Loop):
    def __init__(
        self, db: Database, doorbell: Doorbell, interval: float, batch_size: int, projection: str = PROJECTION
    ) -> None:
        super().__init__("reconciler", interval)
        self.db = db
        self.doorbell = doorbell
        self.batch_size = batch_size
        self.projection = projection
        self._behind_at: int | None = None
        self._still = 0  # consecutive ticks behind at the same checkpoint

    def tick(self) -> None:
        """Ring if the projection is behind; fold directly if ringing has not moved it."""
        try:
            with self.db.snapshot() as conn:
                behind = projection_lag.lag(conn, self.projection)
            if not behind.behind:
                self._behind_at, self._still = None, 0
                return
            self._still = self._still + 1 if behind.position == self._behind_at else 0
            self._behind_at = behind.position
            # A long batch also holds the checkpoint still for a while: only a checkpoint that has
            # not moved for several rings is "stuck" (a ring that nobody answered).
            if self._still >= STUCK_AFTER_TICKS:
                self._fold(behind)
            else:
                self.doorbell.ring()
        except ProjectionError:
            pass  # recorded in the checkpoint and logged by the runner
        except (StoreError, sa.exc.SQLAlchemyError) as exc:
            log.warning("reconciler.unreachable", error=str(exc))

    def _fold(self, behind: projection_lag.Lag) -> None:
        log.warning(
            "reconciler.stuck", projection=self.projection, position=behind.position, head=behind.head
        )
        catch_up(self.db, self.projection, batch_size=self.batch_size, budget=self.interval * 10)
        self._behind_at, self._still = None, 0
