"""Corrections and retractions: new events that amend or withdraw an earlier claim.

The log is never edited. A correction names a claim event and the fields it corrects (resolved like
a report's: place names through the registry and gazetteer, actor names through the directory); a
retraction withdraws the claim. Both are decided under the log's lock, so a correction and a
retraction of one claim cannot both pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from services.domain.claims import Claim, apply_changes, claim_from_event, typed_changes
from services.domain.control import validate_claim
from services.domain.errors import InvalidClaim, Unresolved
from services.domain.events import CLAIM_CORRECTED, CLAIM_RETRACTED, CONTROL_CHANGED, RecordedEvent
from services.domain.places import Location
from services.domain.shares import to_hundredths
from services.gazetteer import Gazetteer
from services.ingest import examples
from services.ingest.problems import (
    AlreadyRetracted,
    EventNotFound,
    FieldError,
    IdConflict,
    Rejected,
    unknown_place,
)
from services.ingest.resolution import PlaceQuery, PlaceResolver
from services.ingest.schemas import (
    NO_NUL,
    Country,
    LocationIn,
    Note,
    Percent,
    SourceIn,
    Strict,
    Text,
    checked_occurred_at,
)
from services.store import event_log, requests
from services.store.actors import ActorDirectory
from services.store.event_log import NewEvent
from services.store.locks import lock_registry
from services.store.serial import lock_log

EventId = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=NO_NUL)]


class ChangesIn(Strict):
    """The claim fields a correction replaces; at least one. `from_actor` and `note` may be null."""

    # Optional, but never null: the document says so (SkipJsonSchema), and `_something` refuses
    # a null with its reason. Fuzzers then send nulls only to check they are refused.
    place: Text | SkipJsonSchema[None] = None
    country: Country | None = None
    location: LocationIn | None = None
    actor: Text | SkipJsonSchema[None] = None
    share: Percent | SkipJsonSchema[None] = None
    from_actor: Text | None = None
    occurred_at: Text | SkipJsonSchema[None] = None
    note: Note | None = None
    supporting_actors: Annotated[list[Text], Field(max_length=50)] | SkipJsonSchema[None] = None

    _occurred = field_validator("occurred_at")(lambda v: checked_occurred_at(v) if v is not None else None)

    @model_validator(mode="after")
    def _something(self) -> ChangesIn:
        corrected = self.model_fields_set - {"country", "location"}
        if not corrected:
            raise ValueError(
                "changes must correct at least one of place, actor, share, from_actor, "
                "occurred_at, note, supporting_actors"
            )
        for field in ("place", "actor", "share", "occurred_at", "supporting_actors"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        if (self.country or self.location) and "place" not in self.model_fields_set:
            raise ValueError("country and location only go with a corrected place")
        return self


class CorrectionIn(Strict):
    model_config = ConfigDict(json_schema_extra=examples.listed(examples.CORRECTIONS))

    id: Text | None = None
    event_id: EventId
    changes: ChangesIn
    reason: Text
    source: SourceIn | None = None


class RetractionIn(Strict):
    model_config = ConfigDict(json_schema_extra=examples.listed(examples.RETRACTIONS))

    id: Text | None = None
    event_id: EventId
    reason: Text
    source: SourceIn | None = None


class AmendmentOut(BaseModel):
    event_id: str
    position: int
    type: Literal["ClaimCorrected", "ClaimRetracted"]
    target_event_id: str
    place_ids: list[str]  # the places whose control the amendment re-folds
    place_created: bool = False


@dataclass(frozen=True)
class Amended:
    answer: AmendmentOut
    created: bool


def record_correction(
    conn: sa.Connection, body: CorrectionIn, digest: str, actors: ActorDirectory, gazetteer: Gazetteer
) -> Amended:
    """Record a correction in the caller's write transaction (see module docstring for errors)."""
    if (earlier := _earlier(conn, "correction", body.id, digest, CLAIM_CORRECTED)) is not None:
        return earlier
    lock_registry(conn)  # before the log's lock: the order every writer takes them in
    lock_log(conn)
    claim = _current_claim(conn, body.event_id)
    changes, created = _resolve(conn, body.changes, actors, gazetteer)
    corrected = apply_changes(claim, typed_changes(changes))
    try:
        validate_claim(corrected)
    except InvalidClaim as exc:
        raise Rejected([FieldError(["body", "changes"], str(exc), "invalid_claim")]) from None
    data = {
        "event_id": body.event_id,
        "changes": changes,
        "reason": body.reason,
        "source": body.source.model_dump(mode="json") if body.source else None,
        "place_created": created,
    }
    event = NewEvent(CLAIM_CORRECTED, claim.place_id, data, request_id=body.id, target_event_id=body.event_id)
    return _append(conn, "correction", body.id, digest, event, [claim.place_id, corrected.place_id], created)


def record_retraction(conn: sa.Connection, body: RetractionIn, digest: str) -> Amended:
    """Record a retraction in the caller's write transaction (see module docstring for errors)."""
    if (earlier := _earlier(conn, "retraction", body.id, digest, CLAIM_RETRACTED)) is not None:
        return earlier
    lock_registry(conn)
    lock_log(conn)
    claim = _current_claim(conn, body.event_id)
    data = {
        "event_id": body.event_id,
        "reason": body.reason,
        "source": body.source.model_dump(mode="json") if body.source else None,
    }
    event = NewEvent(CLAIM_RETRACTED, claim.place_id, data, request_id=body.id, target_event_id=body.event_id)
    return _append(conn, "retraction", body.id, digest, event, [claim.place_id], False)


def _current_claim(conn: sa.Connection, event_id: str) -> Claim:
    """The claim as it stands now: the claim event with every correction applied."""
    history = event_log.read_claim_history(conn, event_id)
    if not history or history[0].type != CONTROL_CHANGED:
        raise EventNotFound(event_id)
    claim = claim_from_event(history[0])
    for event in history[1:]:
        if event.type == CLAIM_RETRACTED:
            raise AlreadyRetracted(event_id)
        claim = apply_changes(claim, typed_changes(event.data["changes"]))
    return claim


def _resolve(
    conn: sa.Connection, body: ChangesIn, actors: ActorDirectory, gazetteer: Gazetteer
) -> tuple[dict[str, Any], bool]:
    """The changes as event data (ids, percent, normalised time), and whether a place was created."""
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    created = False

    def actor_id(name: str, field: str) -> str | None:
        try:
            return actors.resolve(conn, name).actor_id
        except Unresolved as exc:
            errors.append(FieldError(["body", "changes", field], str(exc), "unknown_actor", exc.suggestions))
            return None

    fields = body.model_fields_set
    if body.place is not None:
        resolver = PlaceResolver(conn, gazetteer)
        resolver.preload([body.place])
        location = Location(body.location.lat, body.location.lon) if body.location else None
        try:
            resolution = resolver.resolve(PlaceQuery(body.place, body.country, location))
            resolver.accept()
            resolver.record()
            changes["place_id"], created = resolution.place.place_id, resolution.created
        except Unresolved as exc:
            errors.append(unknown_place(["body", "changes", "place"], exc))
    if body.actor is not None:
        changes["actor_id"] = actor_id(body.actor, "actor")
    if "from_actor" in fields:
        changes["from_actor_id"] = actor_id(body.from_actor, "from_actor") if body.from_actor else None
    if body.supporting_actors is not None:
        changes["supporting_actor_ids"] = [actor_id(n, "supporting_actors") for n in body.supporting_actors]
    if body.share is not None:
        changes["share"] = to_hundredths(body.share) / 100
    if body.occurred_at is not None:
        changes["occurred_at"] = body.occurred_at
    if "note" in fields:
        changes["note"] = body.note
    if errors:
        raise Rejected(errors)
    return changes, created


def _earlier(
    conn: sa.Connection, kind: str, request_id: str | None, digest: str, event_type: str
) -> Amended | None:
    if request_id is None:
        return None
    stored = requests.stored_hash(conn, kind, request_id)
    if stored is None:
        return None
    if stored != digest:
        raise IdConflict(kind, request_id)
    [event] = event_log.read_requests(conn, [request_id], event_type)
    return Amended(_answer_of(event), created=False)


def _append(
    conn: sa.Connection,
    kind: str,
    request_id: str | None,
    digest: str,
    event: NewEvent,
    places: list[str],
    created: bool,
) -> Amended:
    if request_id is not None and not requests.claim(conn, kind, request_id, digest):
        earlier = _earlier(conn, kind, request_id, digest, event.type)
        assert earlier is not None, "a claimed request id always has a stored hash"
        return earlier
    [appended] = event_log.append(conn, [event])
    answer = AmendmentOut(
        event_id=appended.event_id,
        position=appended.position,
        type=event.type,
        target_event_id=event.target_event_id or "",
        place_ids=sorted(set(places)),
        place_created=created,
    )
    return Amended(answer, created=True)


def _answer_of(event: RecordedEvent) -> AmendmentOut:
    changes = event.data.get("changes", {})
    places = {event.stream_id, changes.get("place_id", event.stream_id)}
    return AmendmentOut(
        event_id=event.event_id,
        position=event.position,
        type=event.type,
        target_event_id=event.target_event_id or "",
        place_ids=sorted(places),
        place_created=bool(event.data.get("place_created", False)),
    )
