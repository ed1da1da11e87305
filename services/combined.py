"""One process serving everything (`frontline serve`, `make run`): the write API, the read API and
the projector. Embedded (no REDIS_URL): the projector is a thread woken by the writer. With
REDIS_URL: projection goes through RQ, and a `frontline worker` child process runs the jobs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading

from fastapi import FastAPI

from services import logs
from services.api import page as map_page
from services.api import routes as read_routes
from services.config import Settings
from services.doorbell import LocalDoorbell
from services.ingest import admin
from services.ingest import routes as ingest_routes
from services.projector.embedded import EmbeddedProjector
from services.projector.replay import batch_size_for, run_replay
from services.web.runtime import Runtime
from services.web.setup import build_app


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    doorbell = None if settings.redis_url else LocalDoorbell()
    app = build_app("Frontline", settings, runtime, doorbell)
    ingest_routes.install(app)
    admin.install(app)
    read_routes.install(app, settings)
    map_page.install(app)
    app.state.on_start.append(_start_projection)
    app.state.on_stop.append(_stop_projection)
    return app


def _start_projection(app: FastAPI, runtime: Runtime) -> None:
    if isinstance(runtime.doorbell, LocalDoorbell):
        projector = EmbeddedProjector(
            runtime.db,
            runtime.doorbell,
            runtime.settings.reconcile_interval,
            runtime.settings.projection_batch_size,
            on_advance=lambda _: app.state.follower.poll(),  # read answers move at once
        )
        projector.start()
        runtime.doorbell.ring()  # catch up with what was recorded while nothing ran
        app.state.projector = projector
        app.state.replay_threads = []
        app.state.replay_runner = lambda replay_id: app.state.replay_threads.append(
            _replay_in_thread(runtime, replay_id)
        )
    else:
        # A child process rather than a thread: an RQ worker owns its process's signals. Its log
        # lines look like the server's (readable under `make run`, JSON in a container).
        log_format = logs.resolve_format(runtime.settings.log_format, runtime.settings.dev_mode)
        app.state.projector = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker"], env={**os.environ, "LOG_FORMAT": log_format}
        )


def _replay_in_thread(runtime: Runtime, replay_id: str) -> threading.Thread:
    batch = batch_size_for(runtime.settings.projection_batch_size)

    def run() -> None:
        with contextlib.suppress(Exception):  # a failure is logged and kept in the replay record
            run_replay(runtime.db, replay_id, batch)

    thread = threading.Thread(target=run, name="replay", daemon=True)
    thread.start()
    return thread


def _stop_projection(app: FastAPI, runtime: Runtime) -> None:
    projector = app.state.projector
    if isinstance(projector, EmbeddedProjector):
        for thread in app.state.replay_threads:
            thread.join(120)  # a replay in flight finishes (or fails) before the database closes
        projector.stop()
    else:
        projector.terminate()
        projector.wait(30)
