"""Migrations: `upgrade head` on empty databases, and the Table objects agree with what they build."""

from __future__ import annotations

import json
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.store.migrations import alembic_config, current_revision, head_revision, upgrade
from services.store.read_models import checkpoint_metadata, tables
from services.store.schema import metadata
from tests.support import databases


def described() -> sa.MetaData:
    combined = sa.MetaData()
    for md in (metadata, tables().metadata, checkpoint_metadata):
        for table in md.tables.values():
            table.to_metadata(combined)
    return combined


def assert_matches_code(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        with warnings.catch_warnings():
            # SQLite's reflection skips expression indexes (migration 0008's `uq_replays_active`,
            # on a constant); test_replay_start.py proves that one is there and holds.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based")
            diff = compare_metadata(MigrationContext.configure(conn), described())
    engine.dispose()
    assert diff == []


def schema_on(backend: str, request: pytest.FixtureRequest, tmp_path: Path, migrate: bool) -> Any:
    """A schema of its own on `backend` (a context giving its URL), migrated to head or not."""
    if backend == "postgres":
        return databases.postgres_schema(request.getfixturevalue("postgres_server"), migrate=migrate)
    return nullcontext(databases.sqlite_database(tmp_path / "migrated.db", migrate=migrate))


def migrate_to(url: str, revision: str, down: bool = False) -> None:
    """Alembic's upgrade (or downgrade) to `revision`, on the database at `url`."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    config = alembic_config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
        conn.commit()
    engine.dispose()


def test_upgrade_head_on_an_empty_postgres_schema(postgres_server: str) -> None:
    with databases.postgres_schema(postgres_server, migrate=False) as url:
        upgrade(url)
        upgrade(url)  # a second run is a no-op
        assert_matches_code(url)


def test_upgrade_head_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = databases.sqlite_database(tmp_path / "empty.db", migrate=False)
    upgrade(url)
    upgrade(url)
    assert_matches_code(url)


def test_the_event_log_cannot_be_downgraded_away(fresh_sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match="never dropped"):
        migrate_to(fresh_sqlite_url, "base", down=True)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_places_recorded_before_0006_take_their_first_claimed_name(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with schema_on(backend, request, tmp_path, migrate=False) as url:
        migrate_to(url, "0004")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO places (place_id, name, country, kind, aliases, origin, created_at) VALUES "
                    "('albu-kamal-sy', 'Ālbū Kamāl', 'SY', 'town', '[\"Abu Kamal\", \"Al-Bukamal\"]', "
                    "'gazetteer', '2017-11-20 00:00:00+00')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO events (position, event_id, type, schema_version, stream_id, "
                    "stream_version, recorded_at, data) VALUES (1, 'e1', 'ControlChanged', 1, "
                    "'albu-kamal-sy', 1, '2017-11-20 00:00:00+00', '{\"place_name\": \"Abu Kamal\"}')"
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            name, aliases = conn.execute(sa.text("SELECT name, aliases FROM places")).one()
        engine.dispose()
        if isinstance(aliases, str):
            import json

            aliases = json.loads(aliases)
        assert (name, aliases) == ("Abu Kamal", ["Ālbū Kamāl", "Al-Bukamal"])


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_0011_drops_the_fold_count_and_a_downgrade_gives_it_back_as_0010_read_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from services.projector import runner
    from services.store import event_log
    from services.store.control_rows import state_after_of
    from services.store.database import Database
    from tests.support.events import control_changed

    with schema_on(backend, request, tmp_path, migrate=True) as url:
        db = Database(url)
        with db.transaction() as conn:
            event_log.append(
                conn,
                [
                    control_changed("rawa-iq", a, s, w)
                    for a, s, w in [("isf", 100, "2017-11"), ("is", 40, "2017-12")]
                ],
            )
        runner.catch_up(db)
        claims = tables().claims
        with db.snapshot() as conn:
            states = {r.event_id: state_after_of(r) for r in conn.execute(sa.select(claims))}
            forms = {len(r.state_after) for r in conn.execute(sa.select(claims.c.state_after))}
        assert forms == {2}
        migrate_to(url, "0010_analyze_rebuilt", down=True)
        with db.snapshot() as conn:
            counted = conn.execute(sa.text("SELECT state_after FROM rm_claims")).scalars().all()
            folded = conn.execute(sa.text("SELECT events_folded FROM rm_place_state")).scalars().all()
        assert folded == [0]
        for stored in counted:
            state = json.loads(stored) if isinstance(stored, str) else stored
            assert state[0] == 0 and len(state) == 3  # the form 0010's code reads
        upgrade(url)
        with db.snapshot() as conn:
            assert {r.event_id: state_after_of(r) for r in conn.execute(sa.select(claims))} == states
        db.dispose()
        assert_matches_code(url)
