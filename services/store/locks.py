"""Locks a writer takes before it decides, held until its transaction ends."""

from __future__ import annotations

import sqlalchemy as sa

from services.store.backend import backend_of


def lock_registry(conn: sa.Connection) -> None:
    """Serialise writers of places and actors: a name clash is checked, then the name inserted."""
    backend_of(conn).lock_registry(conn)
