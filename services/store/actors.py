"""Actors: those added through the API (the built-in ones are part of the domain), and the
per-process directory that resolves names against both."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from services.domain.actors import BUILT_IN, Actor, ActorIndex
from services.domain.errors import Unresolved
from services.store.backend import backend_of
from services.store.schema import actors


def list_added(conn: sa.Connection) -> list[Actor]:
    rows = conn.execute(sa.select(actors).order_by(actors.c.actor_id))
    return [Actor(r.actor_id, r.name, tuple(r.aliases or ())) for r in rows]


def add(conn: sa.Connection, actor: Actor) -> bool:
    """Record `actor`; False (and nothing written) when its id is taken."""
    row = {
        "actor_id": actor.actor_id,
        "name": actor.name,
        "aliases": list(actor.aliases),
        "created_at": datetime.now(UTC),
    }
    return bool(backend_of(conn).insert_ignoring_conflicts(conn, actors, [row]))


class ActorDirectory:
    """The actor index, cached per process and reloaded when a name misses.

    Actors are only ever added, so a miss is the one moment the cache can be stale: reloading then
    (and only then) keeps every resolution correct without a query per claim.
    """

    def __init__(self) -> None:
        self._index: ActorIndex | None = None
        self._lock = threading.Lock()

    def index(self, conn: sa.Connection, reload: bool = False) -> ActorIndex:
        built = self._index
        if built is not None and not reload:
            # No lock for a hit: the read API's change feed asks on the event loop, and a reload
            # holds the lock across its query.
            return built
        with self._lock:
            if self._index is None or reload:
                self._index = ActorIndex([*BUILT_IN, *list_added(conn)])
            return self._index

    def resolve(self, conn: sa.Connection, name: str) -> Actor:
        try:
            return self.index(conn).resolve(name)
        except Unresolved:
            return self.index(conn, reload=True).resolve(name)

    def name_of(self, conn: sa.Connection, actor_id: str) -> str:
        """An actor's display name, its id when even a reloaded index does not know it. A holder
        the index lacks was added by another process (a read API apart from ingest): reload."""
        actor = self.index(conn).get(actor_id) or self.index(conn, reload=True).get(actor_id)
        return actor.name if actor is not None else actor_id

    def forget(self) -> None:
        with self._lock:
            self._index = None
