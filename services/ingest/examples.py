"""What the OpenAPI document shows as examples of the write API's bodies, and the links between
its operations: a report's events can be corrected, retracted and read.

Real examples (the seed article's claims) and links are what let a reader of /docs, and a fuzzer
such as schemathesis, get past validation to the write path: random strings never name a place or
an actor the service knows, and a correction needs the id of an event that exists.
"""

from __future__ import annotations

import copy
from typing import Any

from services.seed import SEED_REPORT

NEW_PLACE_REPORT: dict[str, Any] = {
    "id": "example-hajin-2018-12",
    "source": {"name": "Example feed", "url": "https://example.org/hajin", "published_at": "2018-12-14"},
    "claims": [
        {
            "place": "Hajin pocket",
            "country": "SY",
            "location": {"lat": 34.69, "lon": 40.83},
            "actor": "SDF",
            "share": 70,
            "from_actor": "IS",
            "occurred_at": "2018-12-14",
            "note": "a place no gazetteer knows: made from its country and location",
        }
    ],
}
REPORTS: list[dict[str, Any]] = [copy.deepcopy(SEED_REPORT), NEW_PLACE_REPORT]

# An event id no log holds: a correction or retraction of it is a 404. The links below give the
# ids of real events instead. No `id` (idempotency key): each use is a new request.
SOME_EVENT = "00000000-0000-4000-8000-000000000000"
CORRECTIONS: list[dict[str, Any]] = [
    {
        "event_id": SOME_EVENT,
        "changes": {"share": 60, "from_actor": "Syrian Army", "occurred_at": "2017-11-11"},
        "reason": "a later report puts IS's share at 60 percent, a day later",
        "source": {"name": "Example feed", "url": "https://example.org/correction"},
    }
]
RETRACTIONS: list[dict[str, Any]] = [{"event_id": SOME_EVENT, "reason": "the feed withdrew the report"}]
PLACES: list[dict[str, Any]] = [
    {"name": "Hajin pocket", "country": "SY", "kind": "area", "location": {"lat": 34.69, "lon": 40.83}}
]
ACTORS: list[dict[str, Any]] = [{"name": "Jaysh al-Thuwar", "aliases": ["Army of Revolutionaries"]}]


def listed(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """A model's `json_schema_extra` showing `bodies` as its examples."""
    return {"examples": bodies}


def _read_place(place_id: str, position: str) -> dict[str, Any]:
    # min_position: the read waits for the projection to reach the write (read your writes).
    return {
        "operationId": "get_place_v1_places__place_id__get",
        "parameters": {"path.place_id": place_id, "query.min_position": position},
    }


def _history(place_id: str, position: str) -> dict[str, Any]:
    return {
        "operationId": "place_history_v1_places__place_id__history_get",
        "parameters": {"path.place_id": place_id, "query.min_position": position},
    }


def _correct(event_id: str) -> dict[str, Any]:
    return {
        "operationId": "post_correction_v1_corrections_post",
        "requestBody": {"event_id": event_id, "changes": {"share": 60}, "reason": "a later report"},
    }


def _retract(event_id: str) -> dict[str, Any]:
    return {
        "operationId": "post_retraction_v1_retractions_post",
        "requestBody": {"event_id": event_id, "reason": "the report was withdrawn"},
    }


FIRST_EVENT = "$response.body#/events/0/event_id"
AMENDED = "$response.body#/target_event_id"
AFTER_REPORT: dict[str, Any] = {
    "CorrectTheFirstClaim": _correct(FIRST_EVENT),
    "RetractTheFirstClaim": _retract(FIRST_EVENT),
    "ReadTheFirstPlace": _read_place("$response.body#/events/0/place_id", "$response.body#/position"),
    "TheFirstPlacesHistory": _history("$response.body#/events/0/place_id", "$response.body#/position"),
}
AFTER_AMENDMENT: dict[str, Any] = {
    "CorrectTheClaimAgain": _correct(AMENDED),
    "RetractTheClaim": _retract(AMENDED),
    "ReadThePlace": _read_place("$response.body#/place_ids/0", "$response.body#/position"),
    "ThePlacesHistory": _history("$response.body#/place_ids/0", "$response.body#/position"),
}
AFTER_PLACE: dict[str, Any] = {
    "ReadTheRegisteredPlace": _read_place("$response.body#/place_id", "$response.body#/position"),
}
AFTER_ACTOR: dict[str, Any] = {
    "ReadTheRegisteredActor": {
        "operationId": "get_actor_v1_actors__actor_id__get",
        "parameters": {
            "path.actor_id": "$response.body#/actor_id",
            "query.min_position": "$response.body#/position",
        },
    },
}
