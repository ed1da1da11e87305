"""The JSON shapes the read API answers with, built from domain objects and read-model rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.domain.control import PlaceControl
from services.domain.places import Place
from services.domain.shares import to_percent

ActorName = Callable[[str], str]


def place(
    p: Place, state: PlaceControl, actor_name: ActorName, as_of: str | None, known_at: str | None
) -> dict[str, Any]:
    return {
        "place_id": p.place_id,
        "name": p.name,
        "aliases": list(p.aliases),
        "country": p.country,
        "kind": p.kind,
        "location": {"lat": p.location.lat, "lon": p.location.lon} if p.location else None,
        "population": p.population,
        "status": state.status,
        "control": [
            {
                "actor_id": h.actor_id,
                "actor": actor_name(h.actor_id),
                "share": to_percent(h.share),
                "since": h.since.text,
            }
            for h in state.holdings
        ],
        "changed_at": state.changed_at.text if state.changed_at else None,
        "last_event_id": state.last_event_id,
        "sources": state.sources,
        "as_of": as_of,
        "known_at": known_at,
    }


def feature(body: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature (RFC 7946) of a place view: Point geometry, [lon, lat]."""
    location = body["location"]
    return {
        "type": "Feature",
        "id": body["place_id"],
        "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
        "properties": body,
    }


def holding(p: Place, share: int, since: str) -> dict[str, Any]:
    return {
        "place_id": p.place_id,
        "name": p.name,
        "country": p.country,
        "share": to_percent(share),
        "since": since,
        "population": p.population,
        "population_controlled": round((p.population or 0) * share / 10_000),
    }
