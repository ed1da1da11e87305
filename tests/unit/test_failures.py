"""Driver errors read once at the store's boundary, and told to a person in one line."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from services.config import ConfigurationError, Settings
from services.demo import ServerUnreachable
from services.doorbell import QueueUnavailable
from services.failures import explain
from services.store.driver_errors import translate
from services.store.errors import NotMigrated, StoreUnavailable
from services.store.locations import display

PG = "postgresql+psycopg://frontline:s3cret@db.example:5433/frontline"


def pg_error(message: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError(message))


@pytest.mark.parametrize(
    ("message", "reason", "cause"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5433 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?",
            "connection refused",
            "refused",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5433 failed: '
            'FATAL:  password authentication failed for user "frontline"',
            'password authentication failed for user "frontline"',
            "login",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5433 failed: '
            'FATAL:  database "frontline" does not exist',
            'database "frontline" does not exist',
            "no-database",
        ),
        (
            "failed to resolve host 'db.example': [Errno -2] Name or service not known",
            "failed to resolve host 'db.example': [Errno -2] Name or service not known",
            "unknown-host",
        ),
    ],
)
def test_postgresql_connection_errors(message: str, reason: str, cause: str) -> None:
    error = translate(pg_error(message), PG)
    assert isinstance(error, StoreUnavailable) and not isinstance(error, NotMigrated)
    assert (error.backend, error.where, error.reason, error.cause) == (
        "PostgreSQL",
        "db.example:5433/frontline",
        reason,
        cause,
    )
    line = explain(error)
    assert line is not None and "\n" not in line and "s3cret" not in line
    assert line.startswith("cannot reach PostgreSQL at db.example:5433/frontline (DATABASE_URL): ")


def test_a_missing_table_on_either_backend_means_not_migrated() -> None:
    undefined = sa.exc.ProgrammingError(
        "SELECT", {}, psycopg.errors.UndefinedTable('relation "events" does not exist')
    )
    on_pg = translate(undefined, PG)
    on_sqlite = translate(
        sa.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: replays")),
        "sqlite:////srv/frontline.db",
    )
    assert isinstance(on_pg, NotMigrated) and on_pg.table == "events"
    assert isinstance(on_sqlite, NotMigrated) and on_sqlite.table == "replays"
    assert explain(on_sqlite) == (
        "SQLite file /srv/frontline.db (DATABASE_URL) has no table 'replays': run `frontline migrate` first"
    )


def test_other_database_errors_pass_through() -> None:
    clash = sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))
    assert translate(clash, PG) is None


def test_the_database_is_shown_without_its_password() -> None:
    assert display(PG) == "PostgreSQL postgresql+psycopg://frontline:***@db.example:5433/frontline"
    assert display("sqlite:////srv/var/frontline.db") == "SQLite file /srv/var/frontline.db"


def test_redis_the_server_and_settings_are_told_too() -> None:
    assert explain(QueueUnavailable("connection refused", "127.0.0.1:6390")) == (
        "cannot reach Redis at 127.0.0.1:6390 (REDIS_URL): connection refused; is it running?"
    )
    told = explain(ServerUnreachable("http://127.0.0.1:8000", "connection refused"))
    assert told is not None and told.startswith("cannot reach Frontline at http://127.0.0.1:8000")
    with pytest.raises(ConfigurationError) as bad:
        Settings(_env_file=None, port="hunter2")  # type: ignore[call-arg]
    told = explain(bad.value)
    assert told is not None and told.startswith("configuration error: PORT: ") and "hunter2" not in told
    assert explain(RuntimeError("a bug")) is None  # keeps its traceback
