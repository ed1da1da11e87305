"""Reading claims, corrections and retractions out of recorded events."""

from __future__ import annotations

from typing import Any

from services.domain.claims import typed_changes
from services.domain.events import RecordedEvent


def changes_of(event: RecordedEvent) -> dict[str, Any]:
    """A ClaimCorrected event's changes, typed for `apply_changes` (hundredths, OccurredAt)."""
    return typed_changes(event.data["changes"])


def correction_entry(event: RecordedEvent) -> dict[str, Any]:
    """How a correction is listed in its claim's history."""
    return {
        "event_id": event.event_id,
        "position": event.position,
        "recorded_at": event.recorded_at.isoformat(),
        "changes": event.data["changes"],
        "reason": event.data.get("reason"),
        "source": event.data.get("source"),
    }


def retraction_entry(event: RecordedEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "position": event.position,
        "recorded_at": event.recorded_at.isoformat(),
        "reason": event.data.get("reason"),
        "source": event.data.get("source"),
    }
