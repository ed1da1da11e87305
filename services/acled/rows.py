"""One ACLED row -> one Frontline report, or the reason it is skipped or refused. Pure.

ACLED codes a change of territory as its own sub-event types; every other row (clashes, strikes,
protests...) is not a claim about who holds a place and is skipped. A territorial row becomes a
report whose id is `acled:` + `event_id_cnty`, so a re-run or an overlapping later export finds it
already recorded, with one claim: `actor1` takes the place (share 100) from `actor2`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.acled.actors import ActorMap, without_period
from services.acled.countries import Countries
from services.domain.names import name_key
from services.domain.occurred import format_timestamp

TERRITORIAL = frozenset(
    {
        "Government regains territory",  # Battles
        "Non-state actor overtakes territory",  # Battles
        "Non-violent transfer of territory",  # Strategic developments
    }
)
# Without these a row cannot even be classified or identified.
REQUIRED_COLUMNS = (
    "event_id_cnty",
    "event_date",
    "sub_event_type",
    "actor1",
    "actor2",
    "country",
    "location",
)
ADMIN_COLUMNS = ("admin1", "admin2", "admin3")
# Every column of an export, in ACLED's order (its public codebook); the mapping reads only some.
CODEBOOK_COLUMNS = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
)
ID_PREFIX = "acled:"

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}
_LONG_DATE = re.compile(r"^(\d{1,2}) ([A-Za-z]+) (\d{4})$")  # 08 December 2024
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")  # 2024-12-08


@dataclass(frozen=True)
class Skipped:
    """Not a change of territory: counted by its sub-event type."""

    sub_event_type: str


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Mapped:
    """The report (as POST /v1/reports takes it), and what recording it needs besides.

    `unmapped` are the claim's actor names the mapping table does not know: they must resolve to a
    Frontline actor, or be registered, before the report is recorded. `admin` goes on the place
    when the claim creates one.
    """

    body: dict[str, Any]
    unmapped: tuple[str, ...]
    admin: dict[str, str]


Outcome = Mapped | Skipped | Refused


def map_row(row: Mapping[str, str | None], actors: ActorMap, countries: Countries) -> Outcome:
    """What to do with one row of an export (a `csv.DictReader` row)."""
    field = _Fields(row)
    sub_event_type = field("sub_event_type")
    if sub_event_type not in TERRITORIAL:
        return Skipped(sub_event_type or "(none)")
    try:
        return _mapped(field, actors, countries)
    except _Refusal as refusal:
        return Refused(str(refusal))


class _Refusal(Exception):
    pass


class _Fields:
    """A row's cells, stripped; a missing or empty cell is ''."""

    def __init__(self, row: Mapping[str, str | None]) -> None:
        self._row = row

    def __call__(self, column: str) -> str:
        return (self._row.get(column) or "").strip()


def _mapped(field: _Fields, actors: ActorMap, countries: Countries) -> Mapped:
    event_id = field("event_id_cnty")
    if not event_id:
        raise _Refusal("no event_id_cnty")
    location = field("location")
    if not location:
        raise _Refusal("no location")
    country = countries.code(field("country"), field("iso"))
    if country is None:
        raise _Refusal(f"unknown country {field('country')!r}")
    actor, from_actor, supporting = _actors(field)
    claim: dict[str, Any] = {
        "place": location,
        "country": country,
        "actor": _named(actor, actors),
        "share": 100.0,
        "occurred_at": occurred_at(field("event_date"), field("time_precision")),
    }
    if (point := _location(field)) is not None:
        claim["location"] = point
    if from_actor:
        claim["from_actor"] = _named(from_actor, actors)
    if supporting:
        claim["supporting_actors"] = [_named(s, actors) for s in supporting]
    if notes := field("notes"):
        claim["note"] = notes
    body = {"id": ID_PREFIX + event_id, "source": _source(field), "claims": [claim]}
    names = [actor, from_actor, *supporting]
    unmapped = tuple(dict.fromkeys(n for n in names if n and actors.actor_for(n) is None))
    admin = {c: field(c) for c in ADMIN_COLUMNS if field(c)}
    return Mapped(body, unmapped, admin)


def _actors(field: _Fields) -> tuple[str, str, list[str]]:
    """actor1, actor2 and assoc_actor_1 (a `;`-separated list), without period suffixes; a
    supporting actor that is actor1 or actor2 again is left out (a claim cannot list it twice)."""
    actor = without_period(field("actor1"))
    if not actor:
        raise _Refusal("no actor1")
    from_actor = without_period(field("actor2"))
    if from_actor and name_key(from_actor) == name_key(actor):
        raise _Refusal(f"a same-actor transfer: actor1 and actor2 are both {actor!r}")
    taken = {name_key(actor), name_key(from_actor)}
    supporting = []
    for name in (without_period(n) for n in field("assoc_actor_1").split(";")):
        if name and name_key(name) not in taken:
            taken.add(name_key(name))
            supporting.append(name)
    return actor, from_actor, supporting


def _named(name: str, actors: ActorMap) -> str:
    # A mapped name is claimed by its actor id, which resolves to exactly that actor; an unmapped
    # one by its ACLED name, which resolves once it is registered (or is refused).
    return actors.actor_for(name) or name


def occurred_at(event_date: str, time_precision: str) -> str:
    """`event_date` (`08 December 2024` or `2024-12-08`) at the row's precision: 3 is a month."""
    if long := _LONG_DATE.match(event_date):
        day, month_name, year = long.groups()
        month = _MONTHS.get(month_name.lower())
        if month is None:
            raise _Refusal(f"event_date {event_date!r}: unknown month {month_name!r}")
    elif iso := _ISO_DATE.match(event_date):
        year, month, day = iso[1], int(iso[2]), iso[3]
    else:
        raise _Refusal(f"event_date {event_date!r} is neither like '08 December 2024' nor '2024-12-08'")
    if time_precision not in ("", "1", "2", "3"):
        raise _Refusal(f"time_precision {time_precision!r} is not 1, 2 or 3")
    if time_precision == "3":
        return f"{int(year):04d}-{month:02d}"
    return f"{int(year):04d}-{month:02d}-{int(day):02d}"


def _location(field: _Fields) -> dict[str, float] | None:
    lat, lon = field("latitude"), field("longitude")
    if not lat and not lon:
        return None
    try:
        return {"lat": float(lat), "lon": float(lon)}
    except ValueError:
        raise _Refusal(f"latitude/longitude {lat!r}, {lon!r} are not numbers") from None


def _source(field: _Fields) -> dict[str, str]:
    source = {"name": field("source") or "ACLED"}
    if stamp := field("timestamp"):
        source["published_at"] = _published_at(stamp)
    return source


def _published_at(stamp: str) -> str:
    # ACLED's `timestamp` is the Unix time of the row's upload; an export may carry it as a date.
    if not stamp.isdigit():
        return stamp
    try:
        return format_timestamp(datetime.fromtimestamp(int(stamp), UTC))
    except (OverflowError, ValueError, OSError):
        raise _Refusal(f"timestamp {stamp!r} is not a Unix time") from None
