"""What `frontline migrate` prints in a fresh folder: the database it acts on and what it did, and
none of Alembic's own INFO lines; the SQLite file's folder (./var/) is created on the way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

CLI = [sys.executable, "-m", "services.cli"]


def test_migrate_in_a_fresh_folder(tmp_path: Path, cache_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_API_KEYS"))}
    env.update(CACHE_DIR=str(cache_dir), LOG_LEVEL="INFO", LOG_FORMAT="auto")
    done = [
        subprocess.run([*CLI, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    database = tmp_path / "var" / "frontline.db"
    shown = f"database: SQLite file {database} (the default: DATABASE_URL is not set)"
    assert [d.returncode for d in done] == [0, 0], done[0].stderr
    assert [d.stderr.splitlines() for d in done] == [[shown], [shown]]  # no "setup plugin alembic…"
    assert done[0].stdout.startswith("database migrated from empty to head (")
    assert done[1].stdout.startswith("database already at head (")
    assert database.exists()


def test_migrate_and_start_warn_when_autovacuum_is_off(fresh_pg_url: str, cache_dir: Path) -> None:
    """A server with autovacuum off never analyzes the tables, and plans made while they were
    small are kept as they grow (docs/performance-notes.md): `migrate` and every server
    command's start say so, and go on. The test server's setting decides which of the two this test sees."""
    with psycopg.connect(fresh_pg_url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT current_setting('autovacuum'), current_setting('track_counts')").fetchone()
    autovacuum_works = row == ("on", "on")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_API_KEYS"))}
    env.update(DATABASE_URL=fresh_pg_url, CACHE_DIR=str(cache_dir))
    migrated = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    verified = subprocess.run([*CLI, "verify"], env=env, capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    for done in (migrated, verified):
        warned = [
            line
            for line in done.stderr.splitlines()
            if "database.settings_warning" in line and "autovacuum is off" in line
        ]
        assert len(warned) == (0 if autovacuum_works else 1), done.stderr
