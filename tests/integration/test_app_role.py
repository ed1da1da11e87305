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
from services.store.database import Database
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
    db = Database(migrated_for)
    with db.transaction() as conn:
        event_log.append(conn, [control_changed("rawah-iq", "iraqi-security-forces", 100, "2017-11-17")])
    with db.snapshot() as conn:
        assert event_log.count(conn) == 1
    db.dispose()
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
    # ... and analyzed them: the role does not own them, so through migration 0010's function
    # (an ANALYZE of its own would be skipped with a warning, not refused).
    db = Database(migrated_for)
    with db.snapshot() as conn:
        analyzed = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                " AND relname LIKE 'rm\\_%' AND last_analyze IS NOT NULL"
            )
        ).scalar_one()
    db.dispose()
    assert analyzed == 4


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


# Migration 0007: nothing the app role creates can steer the log's trigger, and it keeps only
# what the services use.

PLANTED = """
CREATE FUNCTION {schema}.nextval(text) RETURNS bigint LANGUAGE sql AS 'SELECT 424242::bigint'
"""


def _schema_of(url: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    engine.dispose()
    return str(schema)


def _plant(url: str, schema: str) -> str:
    """Create the planted nextval in `schema` (committed), or say why not."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(PLANTED.format(schema=schema)))
    except sa.exc.ProgrammingError as exc:
        return str(exc.orig).splitlines()[0]
    finally:
        engine.dispose()
    return "accepted"


def _append_positions(url: str, search_path: str, count: int = 2) -> list[int]:
    db = Database(url)
    with db.transaction() as conn:
        conn.execute(sa.text(f"SET LOCAL search_path = {search_path}"))
        recorded = event_log.append(
            conn, [control_changed("rawah-iq", "islamic-state", 100, "2017") for _ in range(count)]
        )
    db.dispose()
    return [event.position for event in recorded]


def test_the_app_role_cannot_create_in_the_logs_schema(migrated_for: str) -> None:
    schema = _schema_of(migrated_for)
    for statement in (
        PLANTED.format(schema=schema),
        PLANTED.format(schema="public"),
        f"CREATE TABLE {schema}.rm_place_state__r0123456789 (x integer)",
    ):
        assert refusal(migrated_for, statement).startswith("permission denied for schema"), statement


def test_a_function_planted_where_the_role_can_create_is_never_called_by_the_trigger(
    migrated_for: str, app_role: str
) -> None:
    schema = _schema_of(migrated_for)
    plant = f"ft_plant_{uuid.uuid4().hex[:8]}"
    owner_url = sa.make_url(migrated_for).set(username="postgres").render_as_string(hide_password=False)
    owner = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    with owner.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {plant} AUTHORIZATION {app_role}"))
    try:
        _plant(migrated_for, schema)  # refused since 0005; before, it steered every position
        assert _plant(migrated_for, plant) == "accepted"  # its own schema
        first = _append_positions(migrated_for, f"{plant}, {schema}")  # as the app role
        then = _append_positions(owner_url, f"{plant}, {schema}, public")  # as the owner, a superuser
        positions = first + then
        assert 424242 not in positions
        assert positions == list(range(positions[0], positions[0] + len(positions)))
    finally:
        with owner.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {plant} CASCADE"))
        owner.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE requests SET body_hash = 'x'",
        "DELETE FROM requests",
        "UPDATE places SET name = 'x'",
        "DELETE FROM place_names",
        "UPDATE actors SET name = 'x'",
        "DELETE FROM replays",
        "SELECT setval('events_position_seq', 1)",
        "TRUNCATE projections",
    ],
)
def test_the_app_role_keeps_only_what_the_services_use(migrated_for: str, statement: str) -> None:
    assert refusal(migrated_for, statement).startswith("permission denied for"), statement
