"""The read service's app factory: `uvicorn --factory services.api.app:create_app`."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from services.api import context, page, routes
from services.config import Settings
from services.web.runtime import Runtime
from services.web.setup import build_app


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    _collect_garbage_rarely()
    return build_app(
        "Frontline read API",
        settings or Settings(),
        installs=[routes.install, page.install],
        wiring=[context.wire],
        runtime=runtime,
    )


def _collect_garbage_rarely() -> None:
    """Young collections every 10,000 net allocations instead of 700, in each read-API process.

    A read API holding a thousand push-stream subscribers keeps ~450,000 live objects (~290 each:
    their tasks and coroutines), and each change allocates a burst of short-lived objects per
    subscriber. The default threshold collects in the middle of those bursts, promoting what is
    still alive until a full collection is due: one every ~10 s, each stopping the process for
    300-400 ms, so that every subscriber got those changes late. Measured with 1,000 subscribers
    and 15 reports/s for 10 s: 148 young collections and one full one; with 10,000, two young
    ones (under 20 ms) and none older."""
    gc.set_threshold(10_000, 10, 10)
