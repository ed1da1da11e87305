"""Reading claims, corrections and retractions out of recorded events."""

from __future__ import annotations

from typing import Any

from services.domain.claims import Claim, typed_changes
from services.domain.events import RecordedEvent
from services.domain.occurred import parse_occurred
from services.domain.shares import to_hundredths
from services.store.control_rows import occurred_from_row


def claim_of(event: RecordedEvent) -> Claim:
    """The claim a ControlChanged event states."""
    data = event.data
    occurred = (
        occurred_from_row(event.occurred_at, event.occurred_start)
        if event.occurred_at and event.occurred_start
        else parse_occurred(data["occurred_at"])
    )
    return Claim(
        event_id=event.event_id,
        position=event.position,
        place_id=data["place_id"],
        actor_id=data["actor_id"],
        share=to_hundredths(data["share"]),
        occurred=occurred,
        from_actor_id=data.get("from_actor_id"),
        supporting_actor_ids=tuple(data.get("supporting_actor_ids") or ()),
        note=data.get("note"),
        report_id=data.get("report_id") or event.request_id,
    )


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
