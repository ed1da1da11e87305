"""The projector inside the web process (embedded mode: no Redis): a thread woken by the writer's
doorbell, and by its own timer as the reconciler."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from services.doorbell import LocalDoorbell
from services.projector.batch import ProjectionError
from services.projector.runner import catch_up
from services.store.database import Database
from services.store.errors import StoreError

log = structlog.get_logger(__name__)


class EmbeddedProjector:
    def __init__(
        self,
        db: Database,
        doorbell: LocalDoorbell,
        interval: float,
        batch_size: int,
        on_advance: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.doorbell = doorbell
        self.interval = interval
        self.batch_size = batch_size
        self.on_advance = on_advance
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.doorbell.ring()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.doorbell.event.wait(self.interval)
            self.doorbell.event.clear()
            if self._stop.is_set():
                return
            try:
                result = catch_up(self.db, batch_size=self.batch_size)
            except ProjectionError:
                continue  # logged and recorded in the checkpoint; the projection stays stopped
            except StoreError as exc:
                log.warning("projector.unavailable", error=str(exc))
                continue
            if result.events and self.on_advance is not None:
                self.on_advance(result.position)
