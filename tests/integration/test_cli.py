"""The `frontline` command as operators run it: import, replay, verify, and a bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from services.store.read_models import tables

CLI = [sys.executable, "-m", "services.cli"]


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=180)


def environment(database_url: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEYS", "_URL"))}
    env.update(DATABASE_URL=database_url, CACHE_DIR=str(cache_dir), LOG_FORMAT="console", LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def report(place: str, actor: str, when: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "source": {"name": "file"},
        "claims": [{"place": place, "actor": actor, "occurred_at": when}],
    }


def count_events(database_url: str) -> int:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    return int(n)


def test_import_reports_bad_lines_and_is_idempotent(
    fresh_sqlite_url: str, cache_dir: Path, tmp_path: Path
) -> None:
    lines = [
        orjson.dumps(report("Mosul", "ISF", "2017-07")).decode(),
        "{not json",
        orjson.dumps(report("Raqqa", "SDF", "2017-10")).decode(),
        orjson.dumps(report("Rawa", "Martians", "2017-11-17")).decode(),
        "",
        orjson.dumps(report("Abu Kamal", "SAA", "2017-11-08")).decode(),
    ]
    path = tmp_path / "reports.ndjson"
    path.write_text("\n".join(lines) + "\n")
    env = environment(fresh_sqlite_url, cache_dir)
    first = run(["import", str(path)], env)
    assert first.returncode == 1  # some lines were rejected
    assert "line 2" in first.stderr and "not JSON" in first.stderr
    assert "line 4" in first.stderr and "Martians" in first.stderr
    assert "3 stored, 0 already present, 2 rejected" in first.stderr.replace("\n", " ")
    assert count_events(fresh_sqlite_url) == 3
    again = run(["import", "-"], env, stdin=path.read_text())
    assert "0 stored, 3 already present, 2 rejected" in again.stderr.replace("\n", " ")
    assert count_events(fresh_sqlite_url) == 3


def test_replay_and_verify_from_the_terminal(fresh_sqlite_url: str, cache_dir: Path, tmp_path: Path) -> None:
    env = environment(fresh_sqlite_url, cache_dir)
    path = tmp_path / "reports.ndjson"
    path.write_text(
        "\n".join(
            orjson.dumps(report(p, a, "2017")).decode() for p, a in [("Mosul", "ISF"), ("Raqqa", "SDF")]
        )
    )
    assert run(["import", str(path)], env).returncode == 0
    replayed = run(["replay"], env)
    assert replayed.returncode == 0, replayed.stderr
    assert "done" in replayed.stdout
    verified = run(["verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "equal" in verified.stdout
    engine = sa.create_engine(fresh_sqlite_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # a read model that drifted from the log
        conn.execute(tables().place_state.update().values(status="partial"))
    engine.dispose()
    drifted = run(["verify"], env)
    assert drifted.returncode == 1
    assert "rm_place_state" in drifted.stdout


def test_a_bad_setting_fails_fast_naming_the_variable(tmp_path: Path) -> None:
    env = environment("mysql://nope", tmp_path)
    result = run(["migrate"], env)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
