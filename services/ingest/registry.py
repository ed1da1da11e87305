"""Registering places and actors that the gazetteer and the built-ins do not know.

A registration writes the registry row (what names resolve by) and appends a PlaceRegistered or
ActorRegistered event, in the caller's transaction: the event is what moves the read models'
version, so cached lists turn over and the answer's `position` is a `min_position` that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from services.domain.actors import Actor
from services.domain.events import ACTOR_REGISTERED, PLACE_REGISTERED
from services.domain.names import name_key, slugify
from services.domain.places import Location, Place
from services.gazetteer import Gazetteer
from services.ingest.problems import FieldError, NameClash, Rejected
from services.ingest.schemas import ActorIn, PlaceIn
from services.store import actors as actor_store
from services.store import event_log
from services.store import places as place_store
from services.store.actors import ActorDirectory
from services.store.event_log import NewEvent
from services.store.locks import lock_registry

T = TypeVar("T")


@dataclass(frozen=True)
class Registered(Generic[T]):
    """What was recorded, and the log position of the event recording it."""

    value: T
    position: int


def register_place(conn: sa.Connection, body: PlaceIn, gazetteer: Gazetteer) -> Registered[Place]:
    """Record a new place and its PlaceRegistered event; NameClash when its id, or a name in its
    country, is taken (nothing written)."""
    place = Place(
        place_id=body.place_id or f"{slugify(body.name)}-{body.country.lower()}",
        name=body.name,
        country=body.country,
        kind=body.kind,
        location=Location(body.location.lat, body.location.lon) if body.location else None,
        population=body.population,
        aliases=tuple(dict.fromkeys(body.aliases)),
    )
    lock_registry(conn)  # the clash checks below and the insert must not interleave with another
    if place_store.get(conn, place.place_id) or gazetteer.get(place.place_id):
        raise NameClash(f"place id {place.place_id!r} is taken")
    recorded = place_store.find_by_keys(conn, [name_key(n) for n in place.names])
    clashes = sorted({p.place_id for ps in recorded.values() for p in ps if p.country == place.country})
    if clashes:
        raise NameClash(f"a name of this place already names {', '.join(clashes)} in {place.country}")
    place_store.add(conn, place, origin="registered")
    return Registered(place, _append(conn, PLACE_REGISTERED, place.place_id, _place_data(place)))


def register_actor(conn: sa.Connection, body: ActorIn, directory: ActorDirectory) -> Registered[Actor]:
    """Record a new actor and its ActorRegistered event; NameClash when its id or one of its names
    is taken, Rejected when a name has nothing to match on (nothing written)."""
    actor = Actor(
        actor_id=body.actor_id or slugify(body.name),
        name=body.name,
        aliases=tuple(dict.fromkeys(body.aliases)),
    )
    if any(not name_key(n) for n in actor.names):
        raise Rejected([FieldError(["body", "aliases"], "every name needs a letter or digit", "value_error")])
    lock_registry(conn)
    index = directory.index(conn, reload=True)
    if index.knows_id(actor.actor_id):
        raise NameClash(f"actor id {actor.actor_id!r} is taken")
    clashes = index.clashes(actor)
    if clashes:
        raise NameClash(f"names already used by another actor: {', '.join(clashes)}")
    actor_store.add(conn, actor)
    directory.forget()
    data = {"actor_id": actor.actor_id, "name": actor.name, "aliases": list(actor.aliases)}
    # The actor's own stream: its id. Ids are slugs like place ids and may coincide with one;
    # nothing reads a stream across event types (the projector goes by type), so that is harmless.
    return Registered(actor, _append(conn, ACTOR_REGISTERED, actor.actor_id, data))


def _place_data(place: Place) -> dict[str, Any]:
    location = place.location
    return {
        "place_id": place.place_id,
        "name": place.name,
        "country": place.country,
        "kind": place.kind,
        "aliases": list(place.aliases),
        "location": {"lat": location.lat, "lon": location.lon} if location else None,
        "population": place.population,
    }


def _append(conn: sa.Connection, event_type: str, stream_id: str, data: dict[str, Any]) -> int:
    [appended] = event_log.append(conn, [NewEvent(event_type, stream_id, data)])
    return appended.position
