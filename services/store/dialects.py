"""The few statements PostgreSQL and SQLite spell differently."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

# Advisory-lock keys (PostgreSQL); SQLite's BEGIN IMMEDIATE already serialises every writer.
REGISTRY_LOCK = 7340031999998


def insert_ignoring_conflicts(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """INSERT the rows, skipping those whose key exists; returns how many were inserted.

    On PostgreSQL a row whose key another transaction has inserted but not yet committed waits for
    that transaction: this is what makes a concurrent duplicate see the first one's outcome.
    """
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING rather than rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    stmt = dialect.insert(table).on_conflict_do_nothing().returning(sa.literal(1))
    return sum(len(conn.execute(stmt, row).all()) for row in rows)


def lock_registry(conn: sa.Connection) -> None:
    """Serialise writers of places and actors (name clashes are checked, then inserted)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK})
