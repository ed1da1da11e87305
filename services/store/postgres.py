"""The PostgreSQL backend: set-based statements, advisory locks, COPY.

Chosen by `Database` for a `postgresql` URL; see `services.store.backend` for the protocol.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.store.backend import ignoring_conflicts

# Advisory-lock keys; the log's own lock is keyed in migration 0001.
REGISTRY_LOCK = 7340031999998


class PostgresBackend:
    name = "postgresql"

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return ignoring_conflicts(conn, table, postgresql.insert(table), rows)

    def lock_registry(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK})

    # The log and its requests.

    # The read models.
