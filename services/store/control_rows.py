"""Rows of the control read models as Python objects, and their JSON encoding.

`ClaimRecord` is one `rm_claims` row: the effective claim, what it was before corrections, the
corrections and retraction applied, and the place's control right after it. The projector builds
and changes these; the read API only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.domain.claims import Claim
from services.domain.control import Holding, PlaceControl
from services.domain.occurred import parse_occurred

Key = tuple[datetime, int]  # a claim's place in time: (start of occurred_at, log position)


@dataclass(slots=True)  # one for every claim a catch-up reads: smaller, and faster to reach into
class ClaimRecord:
    claim: Claim
    recorded_at: datetime
    original: dict[str, Any] | None = None  # claim fields before the first correction
    corrections: list[dict[str, Any]] = field(default_factory=list)
    retraction: dict[str, Any] | None = None
    state_after: PlaceControl | None = None
    places: set[str] = field(default_factory=set)  # every place it has belonged to (if corrected)

    @property
    def retracted(self) -> bool:
        return self.retraction is not None


@dataclass(frozen=True)
class StoredPlace:
    state: PlaceControl
    updated_position: int  # the last log position that touched the place


@dataclass
class RefoldContext:
    """What re-folding places from a point in time needs from the stored claims."""

    priors: dict[str, tuple[Key, PlaceControl]] = field(default_factory=dict)
    tails: dict[str, list[ClaimRecord]] = field(default_factory=dict)


@dataclass
class BatchChanges:
    """The read-model rows one projected batch writes, with the checkpoint they bring it to."""

    position: int
    new_claims: list[ClaimRecord]
    changed_claims: list[ClaimRecord]  # stored claims corrected or retracted
    restated: list[ClaimRecord]  # stored claims whose state_after changed, nothing else
    places: dict[str, StoredPlace]


def claim_fields(claim: Claim) -> dict[str, Any]:
    """The correctable fields of a claim, in the form correction events carry them (share in percent,
    occurred_at as text): `typed_changes` reads both."""
    return {
        "place_id": claim.place_id,
        "actor_id": claim.actor_id,
        "share": claim.share / 100,
        "from_actor_id": claim.from_actor_id,
        "occurred_at": claim.occurred.text,
        "note": claim.note,
        "supporting_actor_ids": list(claim.supporting_actor_ids),
    }


def encode_holdings(state: PlaceControl) -> list[dict[str, Any]]:
    return [
        {
            "actor_id": h.actor_id,
            "share": h.share,
            "since": h.since.text,
            "event_id": h.event_id,
            "report_id": h.report_id,
        }
        for h in state.holdings
    ]


def decode_holdings(rows: list[dict[str, Any]]) -> tuple[Holding, ...]:
    return tuple(
        Holding(r["actor_id"], r["share"], parse_occurred(r["since"]), r["event_id"], r["report_id"])
        for r in rows
    )


def encode_state(state: PlaceControl) -> dict[str, Any]:
    """A compact encoding of a place's control (one per claim row: size matters)."""
    holdings, key, event_id, changed_at, folded = state  # one unpacking: this runs for every claim row
    return {
        "h": [[actor, share, since.text, event, report] for actor, share, since, event, report in holdings],
        "k": [key[0].isoformat(), key[1]] if key else None,
        "e": event_id,
        "c": changed_at.text if changed_at else None,
        "n": folded,
    }


def decode_state(data: dict[str, Any]) -> PlaceControl:
    key = data["k"]
    return PlaceControl(
        holdings=tuple(Holding(a, s, parse_occurred(t), e, r) for a, s, t, e, r in data["h"]),
        last_key=(datetime.fromisoformat(key[0]), key[1]) if key else None,
        last_event_id=data["e"],
        changed_at=parse_occurred(data["c"]) if data["c"] else None,
        events_folded=data["n"],
    )
