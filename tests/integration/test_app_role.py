"""Migration 0004: the services' own role may append to the log but never UPDATE, DELETE or TRUNCATE
it, and has everything else the services do (writes, projection, replays, readiness)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from services.combined import create_app
from services.store import event_log
from services.store.migrations import alembic_config, upgrade
from tests.support import databases
from tests.support.apps import ADMIN, INGEST, settings_for
from tests.support.events import control_changed
from tests.support.workers import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_role(postgres_server: str) -> Iterator[str]:
    role = f"ft_app_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_server, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    try:
        yield role
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        engine.dispose()


@pytest.fixture
def migrated_for(postgres_server: str, app_role: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A schema migrated with DATABASE_APP_ROLE set; yields the URL the services would use."""
    monkeypatch.setenv("DATABASE_APP_ROLE", app_role)
    with databases.postgres_schema(postgres_server, migrate=False) as owner_url:
        upgrade(owner_url)
        yield as_role(owner_url, app_role)


def as_role(url: str, role: str) -> str:
    return sa.make_url(url).set(username=role).render_as_string(hide_password=False)


def refusal(url: str, statement: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    except sa.exc.ProgrammingError as exc:
        return str(exc.orig).splitlines()[0]
    finally:
        engine.dispose()
    return "accepted"


def test_the_app_role_may_append_but_never_change_the_log(migrated_for: str) -> None:
    engine = sa.create_engine(migrated_for, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        event_log.append(conn, [control_changed("rawah-iq", "iraqi-security-forces", 100, "2017-11-17")])
    with engine.connect() as conn:
        assert event_log.count(conn) == 1
    engine.dispose()
    for statement in ("UPDATE events SET type = 'x'", "DELETE FROM events", "TRUNCATE events"):
        # Refused by privileges, before the immutability triggers are even reached.
        assert refusal(migrated_for, statement) == "permission denied for table events", statement
    assert (
        refusal(migrated_for, "DELETE FROM alembic_version") == "permission denied for table alembic_version"
    )


def test_the_services_work_as_the_app_role(migrated_for: str, cache_dir: Path) -> None:
    settings = settings_for(migrated_for, cache_dir, reconcile_interval=0.2)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        report = {
            "id": uuid.uuid4().hex,
            "source": {"name": "test"},
            "claims": [{"place": "Rawa", "actor": "ISF"}],
        }
        report["claims"][0]["occurred_at"] = "2017-11-17"  # type: ignore[index]
        written = client.post("/v1/reports", json=report, headers=INGEST)
        assert written.status_code == 201, written.text
        position = written.json()["position"]
        place = client.get("/v1/places/rawah-iq", params={"min_position": position})
        assert place.status_code == 200, place.text

        # A replay creates tables, then renames and drops the live ones: the role owns them.
        started = client.post("/v1/admin/replay", headers=ADMIN)
        assert started.status_code == 202, started.text
        replay = f"/v1/admin/replays/{started.json()['replay_id']}"
        wait_until(
            lambda: client.get(replay, headers=ADMIN).json()["status"] in ("done", "failed"), 60, "replay"
        )
        assert client.get(replay, headers=ADMIN).json()["status"] == "done"
        assert client.get("/v1/places/rawah-iq").json()["control"] == place.json()["control"]


def test_downgrade_and_upgrade_apply_the_grants_again(migrated_for: str, postgres_server: str) -> None:
    owner_url = sa.make_url(migrated_for).set(username="postgres").render_as_string(hide_password=False)
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
        conn.commit()
    engine.dispose()
    assert refusal(migrated_for, "SELECT count(*) FROM events") != "accepted"  # not even the schema
    upgrade(owner_url)
    assert refusal(migrated_for, "SELECT count(*) FROM events") == "accepted"
    assert refusal(migrated_for, "DELETE FROM events") == "permission denied for table events"


def test_an_app_role_that_does_not_exist_is_named(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_APP_ROLE", "no_such_role_here")
    with (
        databases.postgres_schema(postgres_server, migrate=False) as url,
        pytest.raises(RuntimeError) as caught,
    ):
        upgrade(url)
    assert "DATABASE_APP_ROLE" in str(caught.value) and "no_such_role_here" in str(caught.value)
