"""`frontline replay` (or `worker`, whose replays then run so), slowed down so that a test can kill
it mid-replay: the build reads the log in small chunks, each one waiting a moment before it is
applied. Run as `python -m tests.support.slow_replay [worker]`, in the CLI's environment."""

from __future__ import annotations

import sys
import time

from services import cli
from services.domain.events import RecordedEvent
from services.projector import batch, replay

CHUNK = 5
PAUSE = 0.2  # seconds before each chunk

_feed = batch.Batch.feed


def _slow_feed(self: batch.Batch, events: list[RecordedEvent]) -> None:
    time.sleep(PAUSE)
    _feed(self, events)


if __name__ == "__main__":
    batch.Batch.feed = _slow_feed  # type: ignore[method-assign]
    replay.batch_size_for = lambda configured: CHUNK
    cli.app(sys.argv[1:] or ["replay"])
