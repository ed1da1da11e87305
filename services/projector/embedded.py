"""The projector inside the web process (embedded mode: no Redis): a loop woken by the writer's
doorbell, and by its own timer as the reconciler."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from services.doorbell import LocalDoorbell
from services.loops import Loop
from services.projector.batch import ProjectionError
from services.projector.runner import catch_up
from services.store.database import Database
from services.store.errors import StoreError

log = structlog.get_logger(__name__)


class EmbeddedProjector(Loop):
    def __init__(
        self,
        db: Database,
        doorbell: LocalDoorbell,
        interval: float,
        batch_size: int,
        on_advance: Callable[[int], None] | None = None,
        linger: float = 0.0,
    ) -> None:
        super().__init__("projector", interval, wake=doorbell.event, stop_timeout=30)
        self.db = db
        self.batch_size = batch_size
        self.on_advance = on_advance
        self.linger = linger

    def tick(self) -> None:
        try:
            # No linger inside the catch-up: under a steady stream it would not return. And
            # `on_advance` (the read side's news on SQLite, which has no NOTIFY) is told of every
            # batch: under reports arriving back to back every look finds more, and the catch-up
            # returns only once they pause.
            result = catch_up(self.db, batch_size=self.batch_size, on_batch=self.on_advance)
        except ProjectionError:
            return  # logged and recorded in the checkpoint; the projection stays stopped
        except StoreError as exc:
            log.warning("projector.unavailable", error=str(exc))
            return
        if result.events:
            # The linger (PROJECTION_LINGER), between ticks: the reports that arrive meanwhile ring
            # the doorbell, and the next tick folds them together.
            self.pause(self.linger)
