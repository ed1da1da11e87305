"""The projector inside the web process (embedded mode: no Redis): a loop woken by the writer's
doorbell, and by its own timer as the reconciler; paced as the worker's catch-up job is."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from services.doorbell import LocalDoorbell
from services.loops import Loop
from services.projector.batch import ProjectionError
from services.projector.pace import Pace
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
        self.pace = Pace()

    def tick(self) -> None:
        # A ring is paced; the reconciler's timer is not, and takes no token from the rings.
        wait = self.pace.next_look(self.linger) - self.pace.clock() if self.woken else 0.0
        if wait > 0:
            self.pause(wait)
            if self.stopping:
                return
            # The reports that rang while it waited are this tick's to fold: heard after it, they
            # would cost the next report a token for a tick that finds nothing.
            self.forget_wakes()
        try:
            # No linger inside the catch-up: under a steady stream it would not return. And
            # `on_advance` (the read side's news on SQLite, which has no NOTIFY) is told of every
            # batch: under reports arriving back to back every look finds more, and the catch-up
            # returns only once they pause.
            catch_up(self.db, batch_size=self.batch_size, on_batch=self.on_advance)
        except ProjectionError:
            return  # logged and recorded in the checkpoint; the projection stays stopped
        except StoreError as exc:
            log.warning("projector.unavailable", error=str(exc))
