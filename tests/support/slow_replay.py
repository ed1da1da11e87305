"""`frontline replay` (or `worker`, whose replays then run so), slowed down so that a test can kill
it mid-replay: small batches, each one waiting a moment first. Run as
`python -m tests.support.slow_replay [worker]`, in the CLI's environment."""

from __future__ import annotations

import sys
import time
from typing import Any

from services import cli
from services.projector import replay

BATCH = 5
PAUSE = 0.2  # seconds before each batch

_project_next_batch = replay.project_next_batch


def _slow_batch(*args: Any, **kwargs: Any) -> Any:
    time.sleep(PAUSE)
    return _project_next_batch(*args, **kwargs)


if __name__ == "__main__":
    replay.project_next_batch = _slow_batch
    replay.batch_size_for = lambda configured: BATCH
    cli.app(sys.argv[1:] or ["replay"])
