"""The SQLite backend, the embedded default: plain per-row statements; BEGIN IMMEDIATE already
serialises every writer, so it needs no locks of its own.

Chosen by `Database` for a `sqlite` URL; see `services.store.backend` for the protocol.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from services.store.backend import ignoring_conflicts


class SqliteBackend:
    name = "sqlite"

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return ignoring_conflicts(conn, table, sqlite.insert(table), rows)

    def lock_registry(self, conn: sa.Connection) -> None:
        pass  # the writer's BEGIN IMMEDIATE holds the database lock already

    # The log and its requests.

    # The read models.
