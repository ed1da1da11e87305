"""Resolving a claim's place name: the registry, then the gazetteer, else a new place when the
claim says where it is. (Actors resolve through `services.store.actors.ActorDirectory`.)"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from services.domain.errors import Unresolved
from services.domain.names import name_key, nearest_names, slugify
from services.domain.places import Location, Place, choose_place
from services.gazetteer import Gazetteer
from services.store import places as place_store
from services.store.dialects import lock_registry


@dataclass
class PlaceQuery:
    name: str
    country: str | None
    location: Location | None


@dataclass
class PlaceResolution:
    place: Place
    created: bool


@dataclass
class PlaceResolver:
    """Resolves the place names of one request inside its transaction."""

    conn: sa.Connection
    gazetteer: Gazetteer
    _registered: dict[str, list[Place]] = field(default_factory=dict)
    _created: dict[tuple[str, str], Place] = field(default_factory=dict)

    def preload(self, names: list[str]) -> None:
        """Fetch every recorded place any of `names` could mean, in one query."""
        self._registered = place_store.find_by_keys(self.conn, {name_key(n) for n in names})

    def resolve(self, query: PlaceQuery) -> PlaceResolution:
        """The place `query` names; Unresolved (with the nearest names) when there is none."""
        key = name_key(query.name)
        chosen = choose_place(self._registered.get(key, []), query.country, query.location)
        if chosen is not None:
            return PlaceResolution(chosen, created=False)
        chosen = choose_place(self.gazetteer.lookup(query.name), query.country, query.location)
        if chosen is not None:
            place_store.add(self.conn, chosen, origin="gazetteer")  # joins the recorded places
            self._registered.setdefault(key, []).append(chosen)
            return PlaceResolution(chosen, created=False)
        if query.country is not None and query.location is not None:
            return self._create(query, key)
        raise Unresolved("place", query.name, self._suggestions(query))

    def _create(self, query: PlaceQuery, key: str) -> PlaceResolution:
        assert query.country is not None
        assert query.location is not None
        if (key, query.country) in self._created:
            return PlaceResolution(self._created[(key, query.country)], created=False)
        lock_registry(self.conn)
        # Someone may have recorded the name while we waited for the lock.
        recorded = place_store.find_by_keys(self.conn, [key]).get(key, [])
        chosen = choose_place(recorded, query.country, query.location)
        if chosen is not None:
            return PlaceResolution(chosen, created=False)
        place = Place(
            place_id=self._free_id(f"{slugify(query.name)}-{query.country.lower()}"),
            name=query.name,
            country=query.country,
            kind="town",
            location=query.location,
        )
        place_store.add(self.conn, place, origin="claim")
        self._created[(key, query.country)] = place
        return PlaceResolution(place, created=True)

    def _free_id(self, base: str) -> str:
        candidate, n = base, 1
        while self.gazetteer.get(candidate) or place_store.get(self.conn, candidate):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _suggestions(self, query: PlaceQuery) -> list[str]:
        registered = [n for places in self._registered.values() for p in places for n in p.names]
        from_gazetteer = self.gazetteer.suggest(query.name, query.country)
        return nearest_names(query.name, [*from_gazetteer, *registered])
