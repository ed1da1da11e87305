"""One process serving everything (`frontline serve`, `make run`): the write API, the read API and
the projector. Embedded (no REDIS_URL): the projector is a thread woken by the writer. With
REDIS_URL: projection goes through RQ, and a `frontline worker` child process runs the jobs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable

from fastapi import FastAPI

from services import logs
from services.api import context as read_context
from services.api import page as map_page
from services.api import routes as read_routes
from services.api.context import ReadSide
from services.config import Settings
from services.doorbell import LocalDoorbell
from services.ingest import admin
from services.ingest import routes as ingest_routes
from services.ingest.admin import ReplayRunner
from services.projector.embedded import EmbeddedProjector
from services.projector.replay import batch_size_for, run_replay
from services.web.context import AppContext
from services.web.runtime import Runtime
from services.web.setup import build_app


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Started in this order, stopped in the reverse: the read side, the projection (which moves
    the read side at once), the report writer (which rings the projection)."""
    settings = settings or Settings()
    return build_app(
        "Frontline",
        settings,
        installs=[ingest_routes.install, admin.install, read_routes.install, map_page.install],
        wiring=[read_context.wire, _wire_projection, ingest_routes.wire],
        runtime=runtime,
        doorbell=None if settings.redis_url else LocalDoorbell(),
    )


def _wire_projection(context: AppContext) -> None:
    runtime = context.runtime
    if isinstance(runtime.doorbell, LocalDoorbell):
        follower = context.get(ReadSide).follower
        embedded = EmbeddedProjection(runtime, runtime.doorbell, lambda _: follower.poll())
        context.start(EmbeddedProjection, embedded)
        context.provide(ReplayRunner, ReplayRunner(embedded.run_replay))
    else:
        context.start(WorkerChild, WorkerChild(runtime))
        admin.queued_replays(context)


class EmbeddedProjection:
    """The projector thread, and the replays it runs as threads of their own, in this process."""

    def __init__(self, runtime: Runtime, doorbell: LocalDoorbell, on_advance: Callable[[int], None]) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.projector = EmbeddedProjector(
            runtime.db,
            doorbell,
            settings.reconcile_interval,
            settings.projection_batch_size,
            on_advance,
            settings.projection_linger,
        )
        self.replays: list[threading.Thread] = []

    def start(self) -> None:
        self.projector.start()
        self.projector.wake()  # catch up with what was recorded while nothing ran

    def run_replay(self, replay_id: str) -> None:
        batch = batch_size_for(self.runtime.settings.projection_batch_size)
        db = self.runtime.db

        def run() -> None:
            with contextlib.suppress(Exception):  # a failure is logged and kept in the replay record
                run_replay(db, replay_id, batch)

        thread = threading.Thread(target=run, name="replay", daemon=True)
        thread.start()
        self.replays.append(thread)

    def stop(self) -> None:
        for thread in self.replays:
            thread.join(120)  # a replay in flight finishes (or fails) before the database closes
        self.projector.stop()


class WorkerChild:
    """A `frontline worker` child process: an RQ worker owns its process's signals, so it cannot
    be a thread. Its log lines look like the server's (readable under `make run`, JSON in a
    container)."""

    def __init__(self, runtime: Runtime) -> None:
        self.log_format = logs.resolve_format(runtime.settings.log_format, runtime.settings.dev_mode)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LOG_FORMAT": self.log_format}
        self.process = subprocess.Popen([sys.executable, "-m", "services.cli", "worker"], env=env)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
