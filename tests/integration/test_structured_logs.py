"""Structured logs from real processes: JSON lines, a request id on every line of a request (and in
its answer), the job id on every line of an RQ job; and a bad variable stops each entrypoint with a
message naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.doorbell import QueueDoorbell, catch_up_job_id
from services.store import event_log
from services.store.database import Database
from services.store.read_models import PROJECTION
from tests.support.apps import free_port
from tests.support.events import control_changed
from tests.support.workers import caught_up, stop, wait_until, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

JSON_LOGS = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}


def base_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEYS")}
    env.update(values)
    return env


def json_lines(stderr: bytes) -> list[dict[str, Any]]:
    """Every line the process wrote to stderr, each of which must be a JSON object."""
    return [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]


@contextmanager
def read_api(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "services.cli", "read-api", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base) or process.poll() is not None, 60, "the read API to start")
        assert process.poll() is None, "the read API exited at start"
        yield base, process
    finally:
        stop(process)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_request_line_carries_its_request_id(pg_url: str, cache_dir: Path) -> None:
    env = base_env(DATABASE_URL=pg_url, CACHE_DIR=str(cache_dir), **JSON_LOGS)
    with read_api(env) as (base, process):
        given = httpx.get(f"{base}/v1/places", headers={"X-Request-ID": "trace-7f.3:a"}, timeout=10)
        made = httpx.get(f"{base}/v1/contested", timeout=10)
        refused = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "x" * 500}, timeout=10)
    _, stderr = process.communicate()
    assert given.headers["x-request-id"] == "trace-7f.3:a"
    assert len(made.headers["x-request-id"]) == 32
    assert refused.headers["x-request-id"] != "x" * 500  # too long to trust: replaced
    lines = json_lines(stderr)
    by_id = {line.get("request_id"): line for line in lines if line.get("event") == "http.request"}
    assert by_id["trace-7f.3:a"]["path"] == "/v1/places" and by_id["trace-7f.3:a"]["status"] == 200
    assert by_id[made.headers["x-request-id"]]["path"] == "/v1/contested"
    assert refused.headers["x-request-id"] not in by_id  # probes are logged at DEBUG only
    assert {"level", "timestamp", "logger"} <= set(by_id["trace-7f.3:a"])
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)  # the server's too


def test_every_job_line_carries_its_job_id(
    pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    db = Database(pg_url)
    with db.transaction() as conn:
        event_log.append(
            conn, [control_changed(f"place-{uuid.uuid4().hex[:8]}", "islamic-state", 100, "2017")]
        )
    env = worker_env(pg_url, redis_url, queue_name, cache_dir, RECONCILE_INTERVAL="3600", **JSON_LOGS)
    rq = str(Path(sys.executable).parent / "rq")
    command = [
        rq, "worker", "--url", redis_url, "--serializer", "rq.serializers.JSONSerializer",
        "--worker-class", "services.projector.worker.ProjectorWorker", queue_name,
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    connection = redis.Redis.from_url(redis_url)
    try:
        QueueDoorbell(connection, queue_name, PROJECTION, 60).ring()
        wait_until(lambda: caught_up(db), 60, "the worker to project the event")
    finally:
        stop(process)
        connection.close()
        db.dispose()
    _, stderr = process.communicate()
    job_id = catch_up_job_id(queue_name, PROJECTION)
    lines = [line for line in json_lines(stderr) if line.get("job_id") == job_id]
    assert any(line["event"] == "projection.caught_up" for line in lines), lines
    assert any(line["logger"] == "rq.worker" and "Job OK" in line["event"] for line in lines), lines


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "services.cli", "read-api"],
        [sys.executable, "-m", "uvicorn", "--factory", "services.ingest.app:create_app"],
        [sys.executable, "-m", "uvicorn", "--factory", "services.api.app:create_app"],
        [sys.executable, "-m", "uvicorn", "--factory", "services.combined:create_app"],
        [
            str(Path(sys.executable).parent / "rq"),
            "worker",
            "--worker-class",
            "services.projector.worker.ProjectorWorker",
        ],
    ],
    ids=["cli", "ingest-factory", "read-factory", "combined-factory", "rq-worker"],
)
def test_a_bad_variable_stops_each_entrypoint_naming_it(command: list[str], redis_url: str) -> None:
    env = base_env(GAZETTEER_COUNTRIES="IRQ", PORT="hunter2", RQ_REDIS_URL=redis_url)
    done = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    message = done.stderr.decode()
    assert done.returncode != 0
    assert "configuration error: GAZETTEER_COUNTRIES" in message
    assert "configuration error: PORT" in message
    assert "hunter2" not in message  # the message names variables, never their values
    assert "Value error" not in message  # pydantic's wording: the reason is said plainly
