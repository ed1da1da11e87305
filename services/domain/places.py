"""Places and how a claim's place name picks one of several candidates.

A name resolves, in order, to a registered place or alias, then to a gazetteer entry; among several
matches the claim's country narrows them, then its location picks the nearest, else the most
populous wins. The lookups themselves live at the edges; the choice is pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

PlaceKind = Literal["city", "town", "district", "crossing", "area"]
PLACE_KINDS: tuple[PlaceKind, ...] = ("city", "town", "district", "crossing", "area")


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Place:
    place_id: str
    name: str
    country: str
    kind: PlaceKind = "town"
    location: Location | None = None
    population: int | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance (haversine), good to a few metres at these scales."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def choose_place(candidates: Sequence[Place], country: str | None, location: Location | None) -> Place | None:
    """The candidate a claim means: in its country, nearest its location, else most populous."""
    if country is not None:
        candidates = [c for c in candidates if c.country == country]
    if not candidates:
        return None
    if location is not None and any(c.location for c in candidates):
        located = [c for c in candidates if c.location is not None]
        return min(located, key=lambda c: (distance_km(location, c.location), c.place_id))  # type: ignore[arg-type]
    return max(candidates, key=lambda c: (c.population or 0, _reverse(c.place_id)))


def _reverse(text: str) -> tuple[int, ...]:
    # Ties on population go to the alphabetically first id; max() needs the order inverted.
    return tuple(-ord(ch) for ch in text)


def kind_for_population(population: int | None) -> PlaceKind:
    """The kind of a gazetteer entry: a city from 100,000 people, else a town."""
    return "city" if (population or 0) >= 100_000 else "town"


def named_as_claimed(entry: Place, claimed: str) -> Place:
    """A gazetteer entry as the place it becomes: displayed under the name the first claim used
    ("Abu Kamal", not GeoNames' "Ālbū Kamāl"), which is what readers of the reports know it by;
    the gazetteer's name heads its aliases, so every spelling still resolves to it."""
    if claimed == entry.name:
        return entry
    aliases = dict.fromkeys(n for n in (entry.name, *entry.aliases) if n != claimed)
    return replace(entry, name=claimed, aliases=tuple(aliases))
