"""Resolving a claim's place name: the registry, then the gazetteer, else a new place when the
claim says where it is. (Actors resolve through `services.store.actors.ActorDirectory`.)

A resolver serves a whole batch of requests in one transaction and writes nothing while resolving:
the places a request would record (a gazetteer entry joining, a new place) are staged, kept if the
request is accepted, dropped if it is rejected, and recorded together at the end. That is what
keeps each request all or nothing inside a shared transaction.

A batch names the same few places many times over (a 1000-claim report may name four), so the
resolver remembers each query's answer for as long as the candidates it was chosen from stay the
same: staging or discarding a place, or learning of one recorded meanwhile, forgets them all.

A name that resolves to nothing is answered with the names spelled most like it ("did you mean").
That search costs milliseconds, so it is rationed: a request gets it for its first SUGGESTED_PLACES
unknown names, a batch for SUGGESTED_IN_BATCH in all, and each name is searched once a batch. (A
report of a thousand made-up names once held the report writer, and every feed behind it, for ten
seconds of CPU.) The names past the ration are errors all the same, saying none were looked for.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa

from services.domain.errors import Unresolved
from services.domain.names import name_key, nearest_names, slugify
from services.domain.places import Location, Place, choose_place, named_as_claimed
from services.gazetteer import Gazetteer
from services.store import places as place_store
from services.store.locks import lock_registry

# Unknown names that get suggestions: the first of each request, and at most so many in a batch
# (up to 64 reports: services.ingest.writer).
SUGGESTED_PLACES = 10
SUGGESTED_IN_BATCH = 30


# Named tuples rather than dataclasses: one of each per claim, and a query is a key of the memo.
class PlaceQuery(NamedTuple):
    name: str
    country: str | None
    location: Location | None


class PlaceResolution(NamedTuple):
    place: Place
    created: bool


@dataclass
class PlaceResolver:
    conn: sa.Connection
    gazetteer: Gazetteer
    _known: dict[str, list[Place]] = field(default_factory=lambda: defaultdict(list))
    _accepted: dict[str, tuple[Place, str]] = field(default_factory=dict)
    _staged: dict[str, tuple[Place, str]] = field(default_factory=dict)
    _locked: bool = False
    _keys: dict[str, str] = field(default_factory=dict)  # name -> name_key(name)
    _chosen: dict[PlaceQuery, Place] = field(default_factory=dict)  # answers from the candidates
    _place_keys: dict[str, frozenset[str]] = field(default_factory=dict)  # place id -> its name keys
    _suggested: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)  # (name, country)
    _searched: int = 0  # searches for the request being resolved
    _searched_in_batch: int = 0

    def preload(self, names: list[str]) -> None:
        """Fetch every recorded place any of `names` could mean, in one query."""
        self.learn(place_store.find_by_keys(self.conn, self.keys(names)))

    def keys(self, names: list[str]) -> set[str]:
        """The name keys `preload` looks up, for a caller that fetches the places itself."""
        return {self._key(n) for n in names}

    def learn(self, found: dict[str, list[Place]]) -> None:
        """Take places recorded under these keys (`place_store.find_by_keys`) as preloaded."""
        for key, places in found.items():
            self._known[key].extend(places)
        self._chosen.clear()
        self._suggested.clear()  # more names to suggest

    def resolve(self, query: PlaceQuery) -> PlaceResolution:
        """The place `query` names; Unresolved (with the nearest names) when there is none."""
        chosen = self._chosen.get(query)
        if chosen is not None:
            return PlaceResolution(chosen, created=False)
        key = self._key(query.name)
        chosen = choose_place(self._candidates(key), query.country, query.location)
        if chosen is not None:
            self._chosen[query] = chosen
            return PlaceResolution(chosen, created=False)
        chosen = choose_place(self.gazetteer.lookup(query.name), query.country, query.location)
        if chosen is not None:
            place = named_as_claimed(chosen, query.name)
            self._stage(place, "gazetteer")  # the entry joins the recorded places
            return PlaceResolution(place, created=False)
        if query.country is not None and query.location is not None:
            return self._create(query, key)
        raise self._unresolved(query)

    def accept(self) -> None:
        """The request being resolved is accepted: keep the places it staged."""
        self._accepted.update(self._staged)
        self._staged.clear()
        self._searched = 0

    def discard(self) -> None:
        """The request being resolved is rejected: forget the places it staged."""
        self._staged.clear()
        self._chosen.clear()
        self._searched = 0

    def record(self) -> None:
        """Write the places accepted requests staged (ids already recorded are skipped)."""
        place_store.add_many(self.conn, list(self._accepted.values()))

    def _key(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = name_key(name)
        return key

    def _candidates(self, key: str) -> list[Place]:
        staged = [p for p, _ in (*self._accepted.values(), *self._staged.values()) if key in self._keys_of(p)]
        return [*self._known.get(key, []), *staged]

    def _keys_of(self, place: Place) -> frozenset[str]:
        # Asked of every staged place at each resolve: a gazetteer entry has dozens of names.
        keys = self._place_keys.get(place.place_id)
        if keys is None:
            keys = self._place_keys[place.place_id] = frozenset(self._key(n) for n in place.names)
        return keys

    def _stage(self, place: Place, origin: str) -> None:
        if place.place_id not in self._accepted:
            self._staged[place.place_id] = (place, origin)
            self._chosen.clear()  # a new candidate: earlier answers may change

    def _create(self, query: PlaceQuery, key: str) -> PlaceResolution:
        assert query.country is not None and query.location is not None
        if not self._locked:
            lock_registry(self.conn)
            self._locked = True
        # Someone may have recorded the name since preload (we may have waited for the lock).
        recorded = place_store.find_by_keys(self.conn, [key]).get(key, [])
        chosen = choose_place(recorded, query.country, query.location)
        if chosen is not None:
            self._known[key].append(chosen)
            self._chosen.clear()
            self._suggested.clear()  # one more name to suggest
            return PlaceResolution(chosen, created=False)
        place = Place(
            place_id=self._free_id(f"{slugify(query.name)}-{query.country.lower()}"),
            name=query.name,
            country=query.country,
            kind="town",
            location=query.location,
        )
        self._stage(place, "claim")
        return PlaceResolution(place, created=True)

    def _free_id(self, base: str) -> str:
        candidate, n = base, 1
        while (
            candidate in self._accepted
            or candidate in self._staged
            or self.gazetteer.get(candidate)
            or place_store.get(self.conn, candidate)
        ):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _unresolved(self, query: PlaceQuery) -> Unresolved:
        """The error of an unknown name: with the nearest names, searched once a batch while the
        ration lasts (see the module's docstring)."""
        asked = (query.name, query.country)
        found = self._suggested.get(asked)
        if found is None:
            if self._searched >= SUGGESTED_PLACES or self._searched_in_batch >= SUGGESTED_IN_BATCH:
                return Unresolved("place", query.name, searched=False)
            self._searched += 1
            self._searched_in_batch += 1
            known = [n for places in self._known.values() for p in places for n in p.names]
            found = nearest_names(query.name, [*self.gazetteer.suggest(query.name, query.country), *known])
            self._suggested[asked] = found
        return Unresolved("place", query.name, found)
