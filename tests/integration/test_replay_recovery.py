"""A replay whose runner is killed (SIGKILL) does not block the next one: the next replay, from the
terminal or the admin API, finds the dead runner's lock free, marks its replay `failed`, drops
what it built, and runs at once (issue 11)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.combined import create_app
from services.ingest.app import create_app as create_ingest_app
from services.store import event_log, replays
from services.store.database import Database
from services.store.replays import Replay
from tests.integration.test_cli import environment, run
from tests.support.apps import ADMIN, settings_for
from tests.support.events import control_changed
from tests.support.workers import stop, wait_until, worker_env, workers

PLACES = ["rawah-iq", "albu-kamal-sy", "ar-raqqah-sy", "mosul-iq"]
ACTORS = ["islamic-state", "syrian-arab-army", "iraqi-security-forces"]
EVENTS = 80  # 16 slowed batches of 5: a few seconds of replay to kill it in


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url = str(request.getfixturevalue("fresh_pg_url" if request.param == "postgres" else "fresh_sqlite_url"))
    return seeded(url)


def seeded(url: str) -> str:
    """`url`, its log holding EVENTS claims."""
    db = Database(url)
    with db.transaction() as conn:
        event_log.append(
            conn,
            [
                control_changed(PLACES[i % 4], ACTORS[i % 3], 100, f"2017-{i % 12 + 1:02d}-{i % 28 + 1:02d}")
                for i in range(EVENTS)
            ],
        )
    db.dispose()
    return url


@pytest.fixture
def killed_replay(database_url: str, cache_dir: Path) -> Iterator[Replay]:
    """A `frontline replay` killed with SIGKILL after its first batches; yields its record."""
    command = [sys.executable, "-m", "tests.support.slow_replay"]
    runner = subprocess.Popen(
        command,
        env=environment(database_url, cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = Database(database_url)
    try:
        wait_until(lambda: _processed(db) >= 10, 60, "the slowed replay to fold its first batches")
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        with db.snapshot() as conn:
            record = replays.active(conn)
        assert record is not None and record.status == "running"
        yield record
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
        db.dispose()


def test_a_killed_terminal_replay_gives_way_to_the_next_from_the_terminal(
    database_url: str, cache_dir: Path, killed_replay: Replay
) -> None:
    killed_at = time.monotonic()
    done = run(["replay"], environment(database_url, cache_dir))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - killed_at < 10
    assert f"replay {killed_replay.replay_id} had lost its runner" in done.stderr
    assert "done: the rebuilt read models are live" in done.stdout
    _assert_failed_and_cleaned(database_url, killed_replay.replay_id)


def test_a_killed_replay_gives_way_to_the_next_from_the_admin_api(
    database_url: str, cache_dir: Path, killed_replay: Replay
) -> None:
    killed_at = time.monotonic()
    with TestClient(create_app(settings_for(database_url, cache_dir))) as client:
        old = client.get(f"/v1/admin/replays/{killed_replay.replay_id}", headers=ADMIN).json()
        assert old["status"] == "failed" and old["error"] == "its runner died"
        started = client.post("/v1/admin/replay", headers=ADMIN)
        assert started.status_code == 202, started.text
        new_id = started.json()["replay_id"]
        assert new_id != killed_replay.replay_id
        status = f"/v1/admin/replays/{new_id}"
        wait_until(lambda: client.get(status, headers=ADMIN).json()["status"] == "done", 10, "the new replay")
        assert client.get(status, headers=ADMIN).json()["processed"] == EVENTS
    assert time.monotonic() - killed_at < 10
    _assert_failed_and_cleaned(database_url, killed_replay.replay_id)


@pytest.mark.redis
def test_a_replay_whose_worker_was_killed_gives_way_to_the_next(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    url = seeded(fresh_pg_url)
    env = worker_env(url, redis_url, queue_name, cache_dir)
    slow_worker = subprocess.Popen([sys.executable, "-m", "tests.support.slow_replay", "worker"], env=env)
    settings = settings_for(url, cache_dir, redis_url=redis_url, queue_name=queue_name)
    db = Database(url)
    try:
        with TestClient(create_ingest_app(settings)) as client:
            first = client.post("/v1/admin/replay", headers=ADMIN).json()["replay_id"]
            wait_until(lambda: _processed(db) >= 10, 60, "the worker to fold the replay's first batches")
            stop(slow_worker, kill=True)
            killed_at = time.monotonic()
            with workers(1, env):
                started = client.post("/v1/admin/replay", headers=ADMIN)
                assert started.status_code == 202 and started.json()["replay_id"] != first
                second = f"/v1/admin/replays/{started.json()['replay_id']}"
                wait_until(lambda: client.get(second, headers=ADMIN).json()["status"] == "done", 10, "replay")
            assert time.monotonic() - killed_at < 10
            assert client.get(f"/v1/admin/replays/{first}", headers=ADMIN).json()["status"] == "failed"
    finally:
        stop(slow_worker, kill=True)
        db.dispose()
    _assert_failed_and_cleaned(url, first)


def test_a_live_runner_is_not_taken_for_dead(database_url: str, cache_dir: Path) -> None:
    command = [sys.executable, "-m", "tests.support.slow_replay"]
    runner = subprocess.Popen(
        command,
        env=environment(database_url, cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = Database(database_url)
    try:
        wait_until(lambda: _processed(db) >= 5, 60, "the slowed replay to start")
        again = run(["replay"], environment(database_url, cache_dir))
        assert again.returncode == 1 and "is already running" in again.stderr
        assert runner.wait(60) == 0
        with db.snapshot() as conn:
            statuses = [r.status for r in conn.execute(sa.select(replays.replays))]
        assert statuses == ["done"]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
        db.dispose()


def _processed(db: Database) -> int:
    with db.snapshot() as conn:
        record = replays.active(conn)
    return record.processed if record is not None and record.status == "running" else 0


def _assert_failed_and_cleaned(database_url: str, replay_id: str) -> None:
    db = Database(database_url)
    with db.snapshot() as conn:
        record = replays.get(conn, replay_id)
        names = sa.inspect(conn).get_table_names()
        checkpoints = [n for (n,) in conn.execute(sa.text("SELECT name FROM projections"))]
    db.dispose()
    assert record is not None and record.status == "failed" and record.finished_at is not None
    assert [n for n in names if replay_id[:10] in n] == [], "the dead runner's tables are left"
    assert checkpoints == ["control"]
