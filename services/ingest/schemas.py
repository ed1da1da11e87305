"""What feeds send and what they get back: the JSON of the write API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints, field_validator

from services.domain.errors import InvalidTime
from services.domain.occurred import parse_occurred
from services.domain.places import Location, Place, PlaceKind
from services.ingest import examples

# No NUL characters: PostgreSQL text cannot hold them, and no report needs one.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=NO_NUL)]
Note = Annotated[str, StringConstraints(max_length=10_000, pattern=NO_NUL)]
# Strict numbers: `"50"` or `true` where a number is declared is a mistake to report, not to coerce.
Percent = Annotated[StrictFloat, Field(ge=0, le=100)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
FUTURE_TOLERANCE = timedelta(days=1)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=10_000)


class LocationIn(Strict):
    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)


class SourceIn(Strict):
    name: Text
    url: Text | None = None
    published_at: Text | None = None

    @field_validator("published_at")
    @classmethod
    def _valid_time(cls, value: str | None) -> str | None:
        return parse_occurred(value).text if value is not None else None


def checked_occurred_at(value: str) -> str:
    """Normalise an `occurred_at`; reject impossible dates and ones over a day in the future.

    A report's claims repeat a few dates: `parse_occurred` remembers its answers (the one cache of
    parsed dates), so each claim costs a lookup and the comparison with now.
    """
    try:
        occurred = parse_occurred(value)
    except InvalidTime as exc:
        raise ValueError(str(exc)) from None
    if occurred.start > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError(f"{value!r} is more than a day in the future")
    return occurred.text


class ClaimIn(Strict):
    place: Text
    country: Country | None = None
    location: LocationIn | None = None
    actor: Text
    share: Percent = 100
    from_actor: Text | None = None
    occurred_at: Text
    supporting_actors: list[Text] = Field(default_factory=list, max_length=50)
    note: Note | None = None

    _occurred = field_validator("occurred_at")(checked_occurred_at)


class ReportIn(Strict):
    model_config = ConfigDict(json_schema_extra=examples.listed(examples.REPORTS))

    id: Text
    source: SourceIn
    claims: list[ClaimIn] = Field(min_length=1, max_length=1000)


class RecordedEventOut(BaseModel):
    event_id: str
    position: int
    place_id: str
    actor_id: str
    place_created: bool


class ReportOut(BaseModel):
    report_id: str
    position: int
    events: list[RecordedEventOut]


class PlaceIn(Strict):
    model_config = ConfigDict(json_schema_extra=examples.listed(examples.PLACES))

    name: Text
    country: Country
    aliases: list[Text] = Field(default_factory=list, max_length=100)
    kind: PlaceKind = "town"
    location: LocationIn | None = None
    population: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    place_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,199}$")] | None = None


def location_out(location: Location | None) -> LocationIn | None:
    return LocationIn(lat=location.lat, lon=location.lon) if location is not None else None


class PlaceOut(BaseModel):
    place_id: str
    name: str
    country: str
    kind: str
    aliases: list[str]
    location: LocationIn | None
    population: int | None


def place_fields(place: Place) -> dict[str, Any]:
    """A stored place as the fields of PlaceOut (and the answers that extend it)."""
    return {
        "place_id": place.place_id,
        "name": place.name,
        "country": place.country,
        "kind": place.kind,
        "aliases": list(place.aliases),
        "location": location_out(place.location),
        "population": place.population,
    }


class ActorIn(Strict):
    model_config = ConfigDict(json_schema_extra=examples.listed(examples.ACTORS))

    name: Text
    aliases: list[Text] = Field(default_factory=list, max_length=100)
    actor_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,199}$")] | None = None


class ActorOut(BaseModel):
    actor_id: str
    name: str
    aliases: list[str]


class RegisteredPlaceOut(PlaceOut):
    position: int = Field(
        description="The log position of the PlaceRegistered event: `min_position` for reading it"
    )


class RegisteredActorOut(ActorOut):
    position: int = Field(
        description="The log position of the ActorRegistered event: `min_position` for reading it"
    )
