"""Registering places and actors that the gazetteer and the built-ins do not know."""

from __future__ import annotations

import sqlalchemy as sa

from services.domain.actors import Actor
from services.domain.names import name_key, slugify
from services.domain.places import Location, Place
from services.gazetteer import Gazetteer
from services.ingest.problems import FieldError, NameClash, Rejected
from services.ingest.schemas import ActorIn, PlaceIn
from services.store import actors as actor_store
from services.store import places as place_store
from services.store.actors import ActorDirectory
from services.store.dialects import lock_registry


def register_place(conn: sa.Connection, body: PlaceIn, gazetteer: Gazetteer) -> Place:
    """Record a new place; NameClash when its id, or a name in its country, is taken."""
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
    return place


def register_actor(conn: sa.Connection, body: ActorIn, directory: ActorDirectory) -> Actor:
    """Record a new actor; NameClash when its id or one of its names is taken, Rejected when a
    name has nothing to match on."""
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
    return actor
