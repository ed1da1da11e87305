"""Building log events directly (already resolved), for tests of the projector."""

from __future__ import annotations

from typing import Any

from services.domain.events import CLAIM_CORRECTED, CLAIM_RETRACTED, CONTROL_CHANGED
from services.domain.occurred import parse_occurred
from services.store.event_log import NewEvent


def control_changed(
    place: str,
    actor: str,
    share: float,
    occurred_at: str,
    from_actor: str | None = None,
    report_id: str = "test-report",
) -> NewEvent:
    data: dict[str, Any] = {
        "report_id": report_id,
        "claim_index": 0,
        "place_id": place,
        "place_name": place,
        "place_created": False,
        "actor_id": actor,
        "share": share,
        "from_actor_id": from_actor,
        "occurred_at": occurred_at,
        "supporting_actor_ids": [],
        "note": None,
        "source": {"name": "test"},
    }
    return NewEvent(
        type=CONTROL_CHANGED,
        stream_id=place,
        data=data,
        occurred=parse_occurred(occurred_at),
        request_id=report_id,
    )


def claim_corrected(target: NewEvent, stream: str, **changes: Any) -> NewEvent:
    return NewEvent(
        type=CLAIM_CORRECTED,
        stream_id=stream,
        data={"event_id": target.event_id, "changes": changes, "reason": "test", "source": None},
        target_event_id=target.event_id,
    )


def claim_retracted(target: NewEvent, stream: str) -> NewEvent:
    return NewEvent(
        type=CLAIM_RETRACTED,
        stream_id=stream,
        data={"event_id": target.event_id, "reason": "test", "source": None},
        target_event_id=target.event_id,
    )
