"""Deciding under the log's own lock: for writes whose validity depends on what the log holds.

A correction is refused when its claim has been retracted. Checked outside the lock, a retraction
committing between the check and the append would slip through. Taking the lock that every append
takes (migration 0001: the events trigger's transaction-scoped advisory lock, keyed by the table's
oid) before reading makes check and append one step. Callers must take the registry lock first when
they need both (every other writer does, in that order).
"""

from __future__ import annotations

import sqlalchemy as sa

from services.store.backend import backend_of


def lock_log(conn: sa.Connection) -> None:
    """Hold the log's append lock until the caller's transaction ends (SQLite: BEGIN IMMEDIATE)."""
    backend_of(conn).lock_log(conn)
