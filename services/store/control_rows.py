"""Rows of the control read models as Python objects, and their JSON encoding.

`ClaimRecord` is one `rm_claims` row: the effective claim, what it was before corrections, the
corrections and retraction applied, and the place's control right after it. The projector builds
and changes these; the read API only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa

from services.domain.claims import Claim
from services.domain.control import Holding, PlaceControl
from services.domain.occurred import OccurredAt, from_parts, parse_occurred

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
    """What re-folding places from a point in time needs from the stored claims: per place, the
    last claim before that point (its key and the state after it), and the claims from it on, in
    order; of a place in `more`, only the first of those (the rest are read if the fold gets there)."""

    priors: dict[str, tuple[Key, PlaceControl]] = field(default_factory=dict)
    tails: dict[str, list[ClaimRecord]] = field(default_factory=dict)
    more: set[str] = field(default_factory=set)


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


# The state right after a claim, as that claim's row stores it (`state_after`): there is one per
# claim, so it is most of the read models' bytes, and of what a catch-up writes. Whatever the row
# itself says is left out: the state's order key and last event are the claim's own, and so are
# the `since`, event and report of every holding the claim set, and the time of the last change
# when it equals the claim's time. What is left is a JSON array:
#     [changed_at, [holding, ...]]
# changed_at is 0 for the claim's own time (else its text, or null); a holding the claim set is
# [actor, share], any other [actor, share, since, event id, report id]. The earlier formats are
# still read (rows written before them stay as they are until a replay): an object that spelled
# everything out, then the same array led by a count of the claims folded, which no answer showed
# and which made a late claim restate every later claim of its place (docs/performance-notes.md).
OWN_TIME = 0


class Author(Protocol):
    """What a claim row says of the claim whose state it stores (a Claim is one)."""

    @property
    def event_id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def occurred(self) -> OccurredAt: ...
    @property
    def report_id(self) -> str | None: ...


class RowAuthor(NamedTuple):
    event_id: str
    position: int
    occurred: OccurredAt
    report_id: str | None


def encode_state_after(state: PlaceControl, claim: Author) -> list[Any]:
    """`state` (the place's control right after `claim`) as `claim`'s row stores it."""
    occurred, event_id, report_id = claim.occurred, claim.event_id, claim.report_id
    holdings = [
        [actor, share]
        if event == event_id and (since is occurred or since == occurred) and report == report_id
        else [actor, share, since.text, event, report]
        for actor, share, since, event, report in state.holdings
    ]
    return [_encode_changed_at(state.changed_at, occurred), holdings]


def decode_state_after(data: list[Any] | dict[str, Any], claim: Author) -> PlaceControl:
    """The state `encode_state_after` stored in `claim`'s row."""
    if isinstance(data, dict):
        return _decode_spelled_out(data)
    changed_at, holdings = data[-2:]  # after the count of the second format, if there is one
    occurred, event_id, report_id = claim.occurred, claim.event_id, claim.report_id
    return PlaceControl(
        tuple(
            Holding(h[0], h[1], occurred, event_id, report_id)
            if len(h) == 2
            else Holding(h[0], h[1], parse_occurred(h[2]), h[3], h[4])
            for h in holdings
        ),
        (occurred.start, claim.position),  # last_key
        event_id,  # last_event_id
        _decode_changed_at(changed_at, occurred),
    )


def _encode_changed_at(changed_at: OccurredAt | None, own: OccurredAt) -> str | int | None:
    if changed_at is None:
        return None
    return OWN_TIME if changed_at == own else changed_at.text


def _decode_changed_at(stored: str | int | None, own: OccurredAt) -> OccurredAt | None:
    if stored is None:
        return None
    return own if stored == OWN_TIME else parse_occurred(str(stored))


# The columns of a claim row that `state_after_of` reads.
STATE_COLUMNS = ("event_id", "position", "occurred_at", "occurred_start", "report_id", "state_after")


def state_columns(claims: sa.Table) -> list[sa.Column[Any]]:
    """STATE_COLUMNS of a claims table (the live one or a replay's), to select."""
    return [claims.c[name] for name in STATE_COLUMNS]


def state_after_of(row: Any) -> PlaceControl:
    """The stored state of a claim row read with (at least) STATE_COLUMNS."""
    return decode_state_after(row.state_after, row_author(row))


def row_author(row: Any) -> RowAuthor:
    """What a claim row read with (at least) STATE_COLUMNS says of its claim."""
    occurred = from_parts(row.occurred_at, row.occurred_start)
    return RowAuthor(row.event_id, row.position, occurred, row.report_id)


def _decode_spelled_out(data: dict[str, Any]) -> PlaceControl:
    """The first format of `state_after`: every field spelled out."""
    key = data["k"]
    return PlaceControl(
        holdings=tuple(Holding(a, s, parse_occurred(t), e, r) for a, s, t, e, r in data["h"]),
        last_key=(datetime.fromisoformat(key[0]), key[1]) if key else None,
        last_event_id=data["e"],
        changed_at=parse_occurred(data["c"]) if data["c"] else None,
    )
