"""Real projector workers in subprocesses, and waiting on the projection (never sleeping blindly)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.store import checkpoints, event_log
from services.store.database import Database
from services.store.read_models import PROJECTION


def worker_env(
    database_url: str, redis_url: str, queue: str, cache_dir: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEYS")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        QUEUE_NAME=queue,
        CACHE_DIR=str(cache_dir),
        RECONCILE_INTERVAL="0.5",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="console",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], stock: bool = False) -> subprocess.Popen[bytes]:
    """`frontline worker`, or the stock `rq worker` command with the projector's worker class."""
    if stock:
        rq = str(Path(sys.executable).parent / "rq")
        command = [
            rq, "worker", "--url", env["REDIS_URL"], "--serializer", "rq.serializers.JSONSerializer",
            "--worker-class", "services.projector.worker.ProjectorWorker", env["QUEUE_NAME"],
        ]  # fmt: skip
    else:
        command = [sys.executable, "-m", "services.cli", "worker"]
    return subprocess.Popen(command, env=env)


def stop(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def workers(count: int, env: dict[str, str], stock: bool = False) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [start_worker(env, stock) for _ in range(count)]
    try:
        yield started
    finally:
        for process in started:
            stop(process)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until it holds; returns the seconds it took, fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def caught_up(db: Database, name: str = PROJECTION) -> bool:
    with db.snapshot() as conn:
        checkpoint = checkpoints.read(conn, name)
        head = event_log.last_position(conn)
    return checkpoint is not None and checkpoint.position == head
