"""The few statements PostgreSQL and SQLite spell differently."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

# Advisory-lock keys (PostgreSQL); SQLite's BEGIN IMMEDIATE already serialises every writer.
REGISTRY_LOCK = 7340031999998


def insert_ignoring_conflicts(
    conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """INSERT the rows in one statement, skipping those whose key exists; returns those inserted.

    On PostgreSQL a row whose key another transaction has inserted but not yet committed waits for
    that transaction: this is what makes a concurrent duplicate see the first one's outcome.
    """
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = list(table.primary_key.columns)
    # executemany with RETURNING: SQLAlchemy batches the rows into multi-row INSERTs from one cached
    # compiled statement. RETURNING rather than rowcount: drivers disagree on rowcount here.
    stmt = dialect.insert(table).on_conflict_do_nothing().returning(*key)
    inserted = {tuple(r) for r in conn.execute(stmt, rows)}
    return [row for row in rows if tuple(row[c.name] for c in key) in inserted]


def lock_registry(conn: sa.Connection) -> None:
    """Serialise writers of places and actors (name clashes are checked, then inserted)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK})
