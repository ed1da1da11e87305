"""The read API's answers, declared for OpenAPI (the routes serialise cached bytes themselves)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Status = Literal["controlled", "contested", "partial", "unknown"]


class LocationOut(BaseModel):
    lat: float
    lon: float


class ControlOut(BaseModel):
    actor_id: str
    actor: str
    share: float
    since: str


class PlaceStateOut(BaseModel):
    place_id: str
    name: str
    aliases: list[str]
    country: str
    kind: str
    location: LocationOut | None
    population: int | None
    status: Status
    control: list[ControlOut]
    changed_at: str | None
    last_event_id: str | None
    sources: list[str]
    as_of: str | None
    known_at: str | None


class PlacePage(BaseModel):
    items: list[PlaceStateOut]
    next_cursor: str | None


class ChangedPlaceOut(PlaceStateOut):
    position: int


class ChangesPage(BaseModel):
    items: list[ChangedPlaceOut]
    next_cursor: str | None


class HistoryItem(BaseModel):
    event_id: str
    position: int
    place_id: str
    actor_id: str
    actor: str
    share: float
    from_actor_id: str | None
    occurred_at: str
    supporting_actor_ids: list[str]
    note: str | None
    report_id: str | None
    recorded_at: str
    retracted: bool
    retraction: dict[str, Any] | None
    corrections: list[dict[str, Any]]


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None


class HeldPlace(BaseModel):
    place_id: str
    name: str
    country: str
    share: float
    since: str
    population: int | None
    population_controlled: int


class ActorOut(BaseModel):
    actor_id: str
    name: str
    aliases: list[str]
    places: list[HeldPlace]
    places_held: int
    population_controlled: int
    as_of: str | None
    known_at: str | None


class ActorPage(BaseModel):
    items: list[ActorOut]
    next_cursor: str | None


class PointOut(BaseModel):
    type: Literal["Point"]
    coordinates: list[float]


class FeatureOut(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: PointOut
    properties: PlaceStateOut


class FeatureCollectionOut(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[FeatureOut]
    next_cursor: str | None


class EventOut(BaseModel):
    position: int
    event_id: str
    type: str
    stream_id: str
    stream_version: int
    occurred_at: str | None
    recorded_at: str
    request_id: str | None
    target_event_id: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
