"""What feeds send and what they get back: the JSON of the write API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.domain.errors import InvalidTime
from services.domain.occurred import parse_occurred
from services.domain.places import PlaceKind

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Note = Annotated[str, StringConstraints(max_length=10_000)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
FUTURE_TOLERANCE = timedelta(days=1)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=10_000)


class LocationIn(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class SourceIn(Strict):
    name: Text
    url: Text | None = None
    published_at: Text | None = None

    @field_validator("published_at")
    @classmethod
    def _valid_time(cls, value: str | None) -> str | None:
        return parse_occurred(value).text if value is not None else None


def checked_occurred_at(value: str) -> str:
    """Normalise an `occurred_at`; reject impossible dates and ones over a day in the future."""
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
    share: float = Field(default=100, ge=0, le=100)
    from_actor: Text | None = None
    occurred_at: Text
    supporting_actors: list[Text] = Field(default_factory=list, max_length=50)
    note: Note | None = None

    _occurred = field_validator("occurred_at")(checked_occurred_at)


class ReportIn(Strict):
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
    name: Text
    country: Country
    aliases: list[Text] = Field(default_factory=list, max_length=100)
    kind: PlaceKind = "town"
    location: LocationIn | None = None
    population: int | None = Field(default=None, ge=0, le=100_000_000)
    place_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,199}$")] | None = None


class PlaceOut(BaseModel):
    place_id: str
    name: str
    country: str
    kind: str
    aliases: list[str]
    location: LocationIn | None
    population: int | None


class ActorIn(Strict):
    name: Text
    aliases: list[Text] = Field(default_factory=list, max_length=100)
    actor_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,199}$")] | None = None


class ActorOut(BaseModel):
    actor_id: str
    name: str
    aliases: list[str]
