"""Containers of a stack may all run `frontline migrate` at once: they queue on an advisory lock,
the first migrates, the others find the schema at head, and every one exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.store.migrations import current_revision, head_revision
from services.store.postgres import MIGRATION_LOCK
from tests.support import databases
from tests.support.workers import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def frontline() -> list[str]:
    script = Path(sys.executable).parent / "frontline"  # the installed command, as containers run it
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


def waiting_on_the_lock(admin: sa.Connection, application_name: str) -> int:
    query = sa.text(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = :name"
    )
    waiting = int(admin.execute(query, {"name": application_name}).scalar_one())
    admin.commit()  # pg_stat_activity is read once per transaction: the next poll needs a new one
    return waiting


def test_three_concurrent_migrations_of_an_empty_schema_all_succeed(
    postgres_server: str, cache_dir: Path
) -> None:
    name = f"ft-migrate-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEYS")}
    engine = sa.create_engine(postgres_server, poolclass=sa.pool.NullPool)
    with (
        databases.postgres_schema(postgres_server, migrate=False) as url,
        engine.connect() as admin,
        ExitStack() as runs_stack,  # leaves no process or pipe behind, whatever happens
    ):
        env.update(DATABASE_URL=url, CACHE_DIR=str(cache_dir), PGAPPNAME=name, LOG_LEVEL="WARNING")
        # Hold the lock while the three start, so that all of them are inside `upgrade` together.
        admin.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        admin.commit()
        try:
            runs = [
                runs_stack.enter_context(
                    subprocess.Popen(
                        [*frontline(), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                    )
                )
                for _ in range(3)
            ]
            wait_until(
                lambda: waiting_on_the_lock(admin, name) == 3, 60, "three migrations queued on the lock"
            )
        finally:
            admin.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            admin.commit()
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], [err.decode()[-2000:] for _, err in outputs]
        migrated = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with migrated.connect() as conn:
            assert current_revision(conn) == head_revision()
        migrated.dispose()
    engine.dispose()
