"""Events: immutable facts in the log, named in the past tense and versioned.

Each event type has a schema version; `decode` upgrades older versions when they are read, so the
log never has to be rewritten (it cannot be: the database refuses UPDATE on it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, NamedTuple

EventType = Literal[
    "ControlChanged",
    "ClaimCorrected",
    "ClaimRetracted",
    "PlaceNamesChanged",
    "PlaceRegistered",
    "ActorRegistered",
]
CONTROL_CHANGED: EventType = "ControlChanged"
CLAIM_CORRECTED: EventType = "ClaimCorrected"
CLAIM_RETRACTED: EventType = "ClaimRetracted"
# An operator renamed a place or gave it aliases (PATCH /v1/places/{id}). Its data holds the
# place's names as they stand after it (`place_id`, `name`, `aliases`, `previous_name`), so the
# latest such event of a place is its current names, and the log says when each took effect.
PLACE_NAMES_CHANGED: EventType = "PlaceNamesChanged"
# An operator registered a place (POST /v1/places) or an actor (POST /v1/actors). The registry row
# is what names resolve by; the event is the fact that moves the read models' version, so answers
# cached before it (the place and actor lists) turn over, and a replay folds it like any other.
# Data: the place as registered (`place_id`, `name`, `country`, `kind`, `aliases`, `location`,
# `population`), or the actor (`actor_id`, `name`, `aliases`). Places and actors recorded before
# these events existed have none; they show as they always did.
PLACE_REGISTERED: EventType = "PlaceRegistered"
ACTOR_REGISTERED: EventType = "ActorRegistered"

# The schema version each type is written at today.
CURRENT_VERSION: dict[str, int] = {
    CONTROL_CHANGED: 1,
    CLAIM_CORRECTED: 1,
    CLAIM_RETRACTED: 1,
    PLACE_NAMES_CHANGED: 1,
    PLACE_REGISTERED: 1,
    ACTOR_REGISTERED: 1,
}

# Upcasters: (type, from_version) -> function returning the data at from_version + 1.
# Empty today; the first schema change adds one here instead of touching stored rows.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class UnknownEvent(ValueError):
    """An event type or schema version this code cannot read."""


class RecordedEvent(NamedTuple):
    """An event as read back from the log, its data upgraded to the current schema.

    A named tuple rather than a frozen dataclass: as immutable, and built several times faster
    (a catch-up or replay builds one for every event of the log)."""

    position: int
    event_id: str
    type: str
    stream_id: str
    stream_version: int
    occurred_at: str | None
    occurred_start: datetime | None
    recorded_at: datetime
    request_id: str | None
    target_event_id: str | None
    data: dict[str, Any]


def upgrade(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """The event's data at the current schema version; UnknownEvent when it cannot be read."""
    current = CURRENT_VERSION.get(event_type)
    if current is None:
        raise UnknownEvent(f"unknown event type {event_type!r}")
    if version > current:
        raise UnknownEvent(f"{event_type} v{version} is newer than this code (v{current})")
    while version < current:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEvent(f"no upcaster for {event_type} v{version}")
        data, version = step(data), version + 1
    return data
