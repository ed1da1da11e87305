"""The place registry: places the service has recorded, and the keys of their names."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from services.domain.events import PLACE_NAMES_CHANGED, upgrade
from services.domain.names import name_key
from services.domain.places import Location, Place
from services.store.backend import backend_of
from services.store.schema import events, place_names, places


def find_by_keys(conn: sa.Connection, keys: Iterable[str]) -> dict[str, list[Place]]:
    """Recorded places whose name or an alias has one of `keys`, grouped by key."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    return _by_key(backend_of(conn).places_by_keys(conn, wanted))


def stored_hashes_and_places(
    conn: sa.Connection, kind: str, request_ids: Iterable[str], keys: Iterable[str]
) -> tuple[dict[str, str], dict[str, list[Place]]]:
    """`requests.stored_hashes` and `find_by_keys` at once: the reads of a batch of reports, in one
    round trip where the backend can."""
    stored, rows = backend_of(conn).stored_hashes_and_places(
        conn, kind, sorted(set(request_ids)), sorted(set(keys))
    )
    return stored, _by_key(rows)


def _by_key(rows: Iterable[Sequence[Any]]) -> dict[str, list[Place]]:
    """(key, place columns...) rows (see `Backend.places_by_keys`), grouped by key."""
    found: dict[str, list[Place]] = defaultdict(list)
    for key, *place in rows:
        found[key].append(_from_columns(*place))
    return found


def recorded_keys(conn: sa.Connection) -> dict[str, str]:
    """Every name key of the recorded places, to its place's id (the first, where places share one),
    for "did you mean" answers. The keys are stored: keying every name and alias again, on each
    unknown name a reader gave, cost the read API 36 ms of CPU with 2,000 places."""
    query = sa.select(place_names.c.key, place_names.c.place_id).order_by(
        place_names.c.key, place_names.c.place_id
    )
    by_key: dict[str, str] = {}
    for key, place_id in conn.execute(query):
        by_key.setdefault(key, place_id)
    return by_key


class RecordedKeys:
    """`recorded_keys`, read at most once per `ttl` seconds in a process. Only "did you mean"
    answers read them, and they read them all: 3.5 ms of the read API's CPU with 2,000 places, at
    every request that names an unknown place, which any client can send as fast as it likes. A
    place recorded since the last read is missing from suggestions for at most `ttl` seconds;
    resolving a name never reads them (it looks its key up)."""

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._read: tuple[float, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def get(self, conn: sa.Connection) -> dict[str, str]:
        if (read := self._fresh()) is not None:
            return read
        with self._lock:  # one read for the requests that find them stale together
            if (read := self._fresh()) is None:
                at = self.clock()
                read = recorded_keys(conn)
                self._read = (at, read)
            return read

    def _fresh(self) -> dict[str, str] | None:
        read = self._read
        return read[1] if read is not None and self.clock() - read[0] < self.ttl else None


def get(conn: sa.Connection, place_id: str) -> Place | None:
    row = conn.execute(sa.select(places).where(places.c.place_id == place_id)).first()
    return to_place(row) if row else None


def get_many(conn: sa.Connection, place_ids: Iterable[str]) -> dict[str, Place]:
    ids = sorted(set(place_ids))
    if not ids:
        return {}
    rows = conn.execute(sa.select(places).where(places.c.place_id.in_(ids)))
    return {r.place_id: to_place(r) for r in rows}


def add(conn: sa.Connection, place: Place, origin: str) -> bool:
    """Record `place` and its name keys; False (and nothing written) when its id is taken."""
    return bool(add_many(conn, [(place, origin)]))


def add_many(conn: sa.Connection, entries: Sequence[tuple[Place, str]]) -> set[str]:
    """Record places (each with its origin) and their name keys, in two statements whatever their
    number (an import's chunk may name hundreds of new places); returns the ids recorded, leaving
    out those already taken (nothing is written for them)."""
    now = datetime.now(UTC)
    rows = [_row(place, origin, now) for place, origin in entries]
    recorded = {row["place_id"] for row in backend_of(conn).insert_ignoring_conflicts(conn, places, rows)}
    keys = [
        {"key": key, "place_id": place.place_id}
        for place, _ in entries
        if place.place_id in recorded
        for key in sorted({k for k in (name_key(n) for n in place.names) if k})
    ]
    backend_of(conn).insert_ignoring_conflicts(conn, place_names, keys)
    return recorded


def _row(place: Place, origin: str, now: datetime) -> dict[str, Any]:
    return {
        "place_id": place.place_id,
        "name": place.name,
        "country": place.country,
        "kind": place.kind,
        "lat": place.location.lat if place.location else None,
        "lon": place.location.lon if place.location else None,
        "population": place.population,
        "aliases": list(place.aliases),
        "origin": origin,
        "created_at": now,
    }


def add_attributes(conn: sa.Connection, place_id: str, attributes: dict[str, Any]) -> None:
    """Keep `attributes` on a recorded place, beside those it has (a key given again is replaced)."""
    row = conn.execute(sa.select(places.c.attributes).where(places.c.place_id == place_id)).first()
    if row is not None:
        merged = {**(row.attributes or {}), **attributes}
        conn.execute(places.update().where(places.c.place_id == place_id).values(attributes=merged))


def attributes_of(conn: sa.Connection, place_id: str) -> dict[str, Any] | None:
    return conn.execute(sa.select(places.c.attributes).where(places.c.place_id == place_id)).scalar()


def add_keys(conn: sa.Connection, place_id: str, names: Iterable[str]) -> None:
    """Let `names` resolve to the place (keys it has already are skipped)."""
    keys = sorted({k for k in (name_key(n) for n in names) if k})
    rows = [{"key": k, "place_id": place_id} for k in keys]
    backend_of(conn).insert_ignoring_conflicts(conn, place_names, rows)


@dataclass(frozen=True)
class PlaceNames:
    """A place's names as its latest PlaceNamesChanged event set them, and that event's position."""

    name: str
    aliases: tuple[str, ...]
    position: int


def names_in_log(
    conn: sa.Connection,
    place_ids: Iterable[str] | None = None,
    upto: int | None = None,
    recorded_before: datetime | None = None,
) -> dict[str, PlaceNames]:
    """The names operators gave places (PATCH /v1/places/{id}), as the log holds them up to position
    `upto` and as recorded before `recorded_before`: a read answers with the names of its own
    read-model version and transaction time. Places never renamed are absent."""
    wanted = None
    if place_ids is not None:
        wanted = sorted(set(place_ids))
        if not wanted:
            return {}
    query = _names_query(wanted is not None, upto is not None, recorded_before is not None)
    params = {"wanted": wanted, "upto": upto, "recorded_before": recorded_before}
    found = {}
    for row in conn.execute(query, params):  # the latest of each place wins
        data = upgrade(PLACE_NAMES_CHANGED, row.schema_version, row.data)
        found[row.stream_id] = PlaceNames(data["name"], tuple(data["aliases"]), row.position)
    return found


@lru_cache(maxsize=8)
def _names_query(some_places: bool, upto: bool, recorded_before: bool) -> sa.Select[Any]:
    """`names_in_log`'s query, by which bounds it has (their values are bound when it runs): built
    once, as the read API's change-feed reader runs it every time the read models move."""
    query = sa.select(events.c.stream_id, events.c.position, events.c.schema_version, events.c.data).where(
        events.c.type == PLACE_NAMES_CHANGED
    )
    if some_places:
        query = query.where(events.c.stream_id.in_(sa.bindparam("wanted", expanding=True)))
    if upto:
        query = query.where(events.c.position <= sa.bindparam("upto"))
    if recorded_before:
        query = query.where(
            events.c.recorded_at < sa.bindparam("recorded_before", type_=events.c.recorded_at.type)
        )
    return query.order_by(events.c.position)


def named(place: Place, names: dict[str, PlaceNames]) -> Place:
    """`place` under the names `names` gives it (as recorded, when it has none there)."""
    given = names.get(place.place_id)
    return place if given is None else replace(place, name=given.name, aliases=given.aliases)


def to_place(row: Any) -> Place:
    return _from_columns(
        row.place_id, row.name, row.country, row.kind, row.lat, row.lon, row.population, row.aliases
    )


def _from_columns(
    place_id: str,
    name: str,
    country: str,
    kind: Any,
    lat: float | None,
    lon: float | None,
    population: int | None,
    aliases: list[str] | None,
) -> Place:
    location = Location(lat, lon) if lat is not None and lon is not None else None
    return Place(
        place_id=place_id,
        name=name,
        country=country,
        kind=kind,
        location=location,
        population=population,
        aliases=tuple(aliases or ()),
    )
