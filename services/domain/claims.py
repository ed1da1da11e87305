"""Claims: one control change as a report states it, resolved to place and actor ids.

A claim keeps its log position for life. A correction replaces some of its fields; a retraction
withdraws it. What the fold sees is the *effective* claim: the original with every correction
recorded so far applied, unless it has been retracted.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, NamedTuple

from services.domain.events import RecordedEvent
from services.domain.occurred import OccurredAt, from_parts, parse_occurred
from services.domain.shares import to_hundredths

# The claim fields a correction may change, by their event-data names.
CORRECTABLE = (
    "place_id",
    "actor_id",
    "share",
    "from_actor_id",
    "occurred_at",
    "note",
    "supporting_actor_ids",
)


class Claim(NamedTuple):
    """An effective claim: what the fold applies to a place's control.

    A named tuple rather than a frozen dataclass: as immutable, and built several times faster
    (a catch-up builds one for every claim it reads)."""

    event_id: str
    position: int
    place_id: str
    actor_id: str
    share: int  # hundredths of a percent held by `actor_id` after the change
    occurred: OccurredAt
    from_actor_id: str | None = None
    supporting_actor_ids: tuple[str, ...] = ()
    note: str | None = None
    report_id: str | None = None

    @property
    def order_key(self) -> tuple[datetime, int]:
        """Events order by the start of their period, then by log position."""
        return (self.occurred.start, self.position)


# The OccurredAt of a stored time, remembered: a log repeats a few thousand dates hundreds of
# thousands of times, an OccurredAt is immutable, and building one costs ~9x a cache hit.
_stored_occurred = functools.lru_cache(maxsize=16_384)(from_parts)


def claim_from_event(event: RecordedEvent) -> Claim:
    """The claim a ControlChanged event states (its data at the current schema version)."""
    data = event.data
    occurred = (
        _stored_occurred(event.occurred_at, event.occurred_start)
        if event.occurred_at and event.occurred_start
        else parse_occurred(data["occurred_at"])
    )
    # Positional (in field order): a named tuple is built faster so, and this runs for every claim.
    return Claim(
        event.event_id,  # event_id
        event.position,  # position
        data["place_id"],  # place_id
        data["actor_id"],  # actor_id
        to_hundredths(data["share"]),  # share
        occurred,  # occurred
        data.get("from_actor_id"),  # from_actor_id
        tuple(data.get("supporting_actor_ids") or ()),  # supporting_actor_ids
        data.get("note"),  # note
        data.get("report_id") or event.request_id,  # report_id
    )


def typed_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """A correction's changes as stored in its event (share in percent, occurred_at as text),
    typed for `apply_changes` (share in hundredths, occurred_at an OccurredAt)."""
    typed = dict(changes)
    if "share" in typed:
        typed["share"] = to_hundredths(typed["share"])
    if "occurred_at" in typed:
        typed["occurred_at"] = parse_occurred(typed["occurred_at"])
    return typed


def apply_changes(claim: Claim, changes: dict[str, Any]) -> Claim:
    """The claim with a correction's (already resolved and validated) changes applied.

    `changes` uses the event-data field names; `occurred_at` is an OccurredAt, `share` hundredths.
    The log position never changes: a corrected claim keeps its place among same-instant events.
    """
    fields: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "occurred_at":
            fields["occurred"] = value
        elif name == "supporting_actor_ids":
            fields[name] = tuple(value or ())
        elif name in CORRECTABLE:
            fields[name] = value
    return claim._replace(**fields)
