"""End to end, as deployed: `frontline ingest-api`, `frontline read-api` and `frontline worker`
processes on PostgreSQL and Redis. POST the seed article, then read until the returned position is
projected (min_position), never sleeping blindly."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.seed import SEED_REPORT
from tests.support.apps import INGEST, INGEST_KEY, free_port
from tests.support.workers import stop, worker_env


def serve(command: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", command, "--port", str(port)], env=env)


def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{base} did not become healthy")


@pytest.fixture
def stack(fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path) -> Iterator[tuple[str, str]]:
    env = worker_env(fresh_pg_url, redis_url, queue_name, cache_dir, INGEST_API_KEYS=INGEST_KEY)
    env.pop("READ_API_KEYS", None)
    ingest_port, read_port = free_port(), free_port()
    processes = [
        serve("ingest-api", ingest_port, env),
        serve("read-api", read_port, env),
        subprocess.Popen([sys.executable, "-m", "services.cli", "worker"], env=env),
    ]
    try:
        ingest, read = f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{read_port}"
        wait_healthy(ingest, processes[0])
        wait_healthy(read, processes[1])
        yield ingest, read
    finally:
        for process in processes:
            stop(process)


def test_the_seed_article_end_to_end(stack: tuple[str, str]) -> None:
    ingest, read = stack
    posted = httpx.post(f"{ingest}/v1/reports", json=SEED_REPORT, headers=INGEST, timeout=30)
    assert posted.status_code == 201, posted.text
    position = posted.json()["position"]

    abu_kamal = httpx.get(f"{read}/v1/places/albu-kamal-sy", params={"min_position": position}, timeout=30)
    assert abu_kamal.status_code == 200, abu_kamal.text
    assert int(abu_kamal.headers["x-projection-position"]) >= position
    body = abu_kamal.json()
    assert body["status"] == "contested"
    assert {c["actor_id"]: c["share"] for c in body["control"]} == {
        "syrian-arab-army": 60.0,
        "islamic-state": 40.0,
    }

    expected = {
        "rawah-iq": "iraqi-security-forces",
        "al-qaim-iq": "iraqi-security-forces",
        "deir-ez-zor-sy": "syrian-arab-army",
        "mosul-iq": "iraqi-security-forces",
        "ar-raqqah-sy": "syrian-democratic-forces",
    }
    places = httpx.get(f"{read}/v1/places", params={"status": "controlled", "min_position": position}).json()
    controlled = {p["place_id"]: p["control"][0]["actor_id"] for p in places["items"]}
    assert controlled == expected
    contested = httpx.get(f"{read}/v1/contested", params={"min_position": position}).json()["items"]
    assert [p["place_id"] for p in contested] == ["albu-kamal-sy"]
    again = httpx.post(f"{ingest}/v1/reports", json=SEED_REPORT, headers=INGEST, timeout=30)
    assert again.status_code == 200
    assert again.json() == posted.json()
