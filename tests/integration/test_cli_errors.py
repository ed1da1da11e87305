"""What every `frontline` command says when what it needs is not there: a PostgreSQL or Redis that
does not answer, a database never migrated, a server that is not running. One or two lines that
name the failure and what to do, exit code 1, no traceback (unless asked for), never a password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.apps import free_port

CLI = [sys.executable, "-m", "services.cli"]
PASSWORD = "s3cret-pw"
DATABASE_COMMANDS = [
    ["migrate"],
    ["verify"],
    ["replay"],
    ["import", "-"],
    ["serve"],
    ["read-api"],
    ["ingest-api"],
]


def closed_port() -> int:
    return free_port()  # nothing listens there once the probing socket is closed


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_API_KEYS"))}
    clean.pop("LOG_LEVEL", None)
    clean.update(CACHE_DIR=str(cwd / "cache"), **env)
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=clean, input="", capture_output=True, text=True, timeout=120
    )


def assert_told_plainly(done: subprocess.CompletedProcess[str], *expected: str) -> list[str]:
    output = done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert PASSWORD not in output
    assert 1 <= len(lines) <= 2, output  # "database: …" (for some commands) and what failed
    for text in expected:
        assert text in lines[-1], output
    return lines


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=lambda a: a[0])
def test_an_unreachable_postgresql(args: list[str], tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://frontline:{PASSWORD}@127.0.0.1:{port}/frontline"
    done = run(args, tmp_path, DATABASE_URL=url)
    assert_told_plainly(
        done, f"cannot reach PostgreSQL at 127.0.0.1:{port}/frontline (DATABASE_URL)", "connection refused"
    )


def test_the_commands_that_act_on_a_database_name_it_first(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://frontline:{PASSWORD}@127.0.0.1:{port}/frontline"
    for args in (["migrate"], ["verify"], ["replay"], ["import", "-"]):
        first = run(args, tmp_path, DATABASE_URL=url).stderr.splitlines()[0]
        shown = f"postgresql+psycopg://frontline:***@127.0.0.1:{port}/frontline"
        assert first == f"database: PostgreSQL {shown} (DATABASE_URL)"


def test_an_unreachable_redis_stops_the_worker(fresh_sqlite_url: str, tmp_path: Path) -> None:
    port = closed_port()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    done = run(["worker"], tmp_path, DATABASE_URL=fresh_sqlite_url, REDIS_URL=url)
    assert_told_plainly(done, f"cannot reach Redis at 127.0.0.1:{port} (REDIS_URL): connection refused")


def test_a_database_never_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'frontline.db'}"
    for args in (["verify"], ["serve"], ["replay"]):
        done = run(args, tmp_path, DATABASE_URL=url)
        assert_told_plainly(done, "has no tables yet", "frontline migrate")
    assert not (tmp_path / "var").exists()  # asking did not create an empty database


def test_a_postgresql_schema_never_migrated(postgres_server: str, tmp_path: Path) -> None:
    from tests.support.databases import postgres_schema

    with postgres_schema(postgres_server, migrate=False) as url:
        done = run(["verify"], tmp_path, DATABASE_URL=url)
    assert_told_plainly(done, "PostgreSQL at", "has no tables yet", "frontline migrate")


def test_demo_with_no_server(tmp_path: Path) -> None:
    port = closed_port()
    done = run(["demo"], tmp_path, PORT=str(port))
    assert_told_plainly(done, f"cannot reach Frontline at http://127.0.0.1:{port}", "make run")


def test_the_traceback_is_there_when_asked_for(tmp_path: Path) -> None:
    url = f"postgresql://frontline:{PASSWORD}@127.0.0.1:{closed_port()}/frontline"
    for done in (
        run(["--debug", "verify"], tmp_path, DATABASE_URL=url),
        run(["verify"], tmp_path, DATABASE_URL=url, LOG_LEVEL="DEBUG"),
    ):
        assert done.returncode == 1
        assert "Traceback" in done.stderr and "StoreUnavailable" in done.stderr
        assert PASSWORD not in done.stdout + done.stderr
