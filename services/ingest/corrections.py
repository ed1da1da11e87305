"""Corrections and retractions: new events that amend or withdraw an earlier claim.

The log is never edited. A correction names a claim event and the fields it corrects (resolved like
a report's: place names through the registry and gazetteer, actor names through the directory); a
retraction withdraws the claim. Both are decided under the log's lock, so a correction and a
retraction of one claim cannot both pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
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
from services.ingest import examples, idempotency
from services.ingest.idempotency import CORRECTION, RETRACTION, Kind, Ledger, StoreLedger, Verdict
from services.ingest.problems import (
    AlreadyRetracted,
    EventNotFound,
    FieldError,
    IdConflict,
    Rejected,
    unknown_place,
)
from services.ingest.resolution import PlaceQuery, PlaceResolution, PlaceResolver
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
from services.store import event_log
from services.store.actors import ActorDirectory
from services.store.event_log import Appended, NewEvent
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
    decide = functools.partial(_correction, conn, body, actors, gazetteer)
    return record_amendment(StoreLedger(conn), CORRECTION, body.id, digest, decide)


def record_retraction(conn: sa.Connection, body: RetractionIn, digest: str) -> Amended:
    """Record a retraction in the caller's write transaction (see module docstring for errors)."""
    decide = functools.partial(_retraction, conn, body)
    return record_amendment(StoreLedger(conn), RETRACTION, body.id, digest, decide)


def record_amendment(
    ledger: Ledger, kind: Kind, request_id: str | None, digest: str, decide: Callable[[], NewEvent]
) -> Amended:
    """Answer a replay (or refuse a conflict) as `idempotency` decides; else `decide` the event
    (under the locks it takes), write it and answer from what was written."""
    if (earlier := _earlier(ledger, kind, request_id, digest)) is not None:
        return earlier
    event = decide()
    written = ledger.write(kind, {request_id: digest} if request_id is not None else {}, [event])
    if request_id is not None and request_id not in written.claimed:
        # A concurrent request with this id was recorded first (its transaction held the locks).
        stored = ledger.stored_hashes(kind, [request_id])
        return _replayed(ledger, kind, request_id, idempotency.lost(request_id, digest, stored))
    return Amended(_answer(event, written.appended[event.event_id]), created=True)


def _earlier(ledger: Ledger, kind: Kind, request_id: str | None, digest: str) -> Amended | None:
    """The answer to a request recorded before; IdConflict when it came with another body."""
    if request_id is None:
        return None
    verdict = idempotency.verdict(request_id, digest, ledger.stored_hashes(kind, [request_id]))
    return None if verdict is Verdict.NEW else _replayed(ledger, kind, request_id, verdict)


def _replayed(ledger: Ledger, kind: Kind, request_id: str, verdict: Verdict) -> Amended:
    if verdict is Verdict.CONFLICT:
        raise IdConflict(kind.name, request_id)
    [event] = ledger.recorded(kind, [request_id])[request_id]
    return Amended(_answer(event, event), created=False)


def _lock(conn: sa.Connection) -> None:
    # The registry's lock before the log's: the order every writer takes them in. Under the log's
    # lock, a correction and a retraction of one claim cannot both pass.
    lock_registry(conn)
    lock_log(conn)


def _correction(
    conn: sa.Connection, body: CorrectionIn, actors: ActorDirectory, gazetteer: Gazetteer
) -> NewEvent:
    _lock(conn)
    claim = current_claim(body.event_id, event_log.read_claim_history(conn, body.event_id))
    changes, created = _resolve(conn, body.changes, actors, gazetteer)
    return correction_event(body, claim, changes, created)


def _retraction(conn: sa.Connection, body: RetractionIn) -> NewEvent:
    _lock(conn)
    return retraction_event(
        body, current_claim(body.event_id, event_log.read_claim_history(conn, body.event_id))
    )


def current_claim(event_id: str, history: Sequence[RecordedEvent]) -> Claim:
    """The claim as it stands now: the claim event with every correction in `history` (a claim
    event, then its corrections and retractions) applied."""
    if not history or history[0].type != CONTROL_CHANGED:
        raise EventNotFound(event_id)
    claim = claim_from_event(history[0])
    for event in history[1:]:
        if event.type == CLAIM_RETRACTED:
            raise AlreadyRetracted(event_id)
        claim = apply_changes(claim, typed_changes(event.data["changes"]))
    return claim


def correction_event(
    body: CorrectionIn, claim: Claim, changes: dict[str, Any], place_created: bool
) -> NewEvent:
    """The ClaimCorrected event of `changes` (resolved: ids, not names) to `claim` as it stands;
    Rejected when the corrected claim breaks the algebra."""
    try:
        validate_claim(apply_changes(claim, typed_changes(changes)))
    except InvalidClaim as exc:
        raise Rejected([FieldError(["body", "changes"], str(exc), "invalid_claim")]) from None
    data = {
        "event_id": body.event_id,
        "changes": changes,
        "reason": body.reason,
        "source": body.source.model_dump(mode="json") if body.source else None,
        "place_created": place_created,
    }
    return NewEvent(CLAIM_CORRECTED, claim.place_id, data, request_id=body.id, target_event_id=body.event_id)


def retraction_event(body: RetractionIn, claim: Claim) -> NewEvent:
    """The ClaimRetracted event withdrawing `claim`."""
    data = {
        "event_id": body.event_id,
        "reason": body.reason,
        "source": body.source.model_dump(mode="json") if body.source else None,
    }
    return NewEvent(CLAIM_RETRACTED, claim.place_id, data, request_id=body.id, target_event_id=body.event_id)


def _resolve(
    conn: sa.Connection, body: ChangesIn, actors: ActorDirectory, gazetteer: Gazetteer
) -> tuple[dict[str, Any], bool]:
    """The changes as event data (ids, percent, normalised time), and whether a place was created;
    Rejected with the errors of every name that resolves to nothing."""
    changes: dict[str, Any] = {}
    errors: list[FieldError] = []
    created = False
    if body.place is not None:
        place = _place(conn, body.place, body.country, body.location, gazetteer)
        if isinstance(place, FieldError):
            errors.append(place)
        else:
            changes["place_id"], created = place.place.place_id, place.created
    named = _ChangedActors(conn, actors)
    changes.update(named.changes(body))
    if errors or named.errors:
        raise Rejected([*errors, *named.errors])
    return {**changes, **_plain_changes(body)}, created


def _place(
    conn: sa.Connection, name: str, country: str | None, location: LocationIn | None, gazetteer: Gazetteer
) -> PlaceResolution | FieldError:
    resolver = PlaceResolver(conn, gazetteer)
    resolver.preload([name])
    try:
        resolution = resolver.resolve(
            PlaceQuery(name, country, Location(location.lat, location.lon) if location else None)
        )
    except Unresolved as exc:
        return unknown_place(["body", "changes", "place"], exc)
    resolver.accept()
    resolver.record()
    return resolution


class _ChangedActors:
    """A correction's actor names as ids; the names that resolve to nothing become `errors`."""

    def __init__(self, conn: sa.Connection, directory: ActorDirectory) -> None:
        self._conn = conn
        self._directory = directory
        self.errors: list[FieldError] = []

    def changes(self, body: ChangesIn) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if body.actor is not None:
            changes["actor_id"] = self._id(body.actor, "actor")
        if "from_actor" in body.model_fields_set:
            changes["from_actor_id"] = self._id(body.from_actor, "from_actor") if body.from_actor else None
        if body.supporting_actors is not None:
            changes["supporting_actor_ids"] = [
                self._id(n, "supporting_actors") for n in body.supporting_actors
            ]
        return changes

    def _id(self, name: str, field: str) -> str | None:
        try:
            return self._directory.resolve(self._conn, name).actor_id
        except Unresolved as exc:
            self.errors.append(
                FieldError(["body", "changes", field], str(exc), "unknown_actor", exc.suggestions)
            )
            return None


def _plain_changes(body: ChangesIn) -> dict[str, Any]:
    """The changes that need no resolving, as event data."""
    changes: dict[str, Any] = {}
    if body.share is not None:
        changes["share"] = to_hundredths(body.share) / 100
    if body.occurred_at is not None:
        changes["occurred_at"] = body.occurred_at
    if "note" in body.model_fields_set:
        changes["note"] = body.note
    return changes


def _answer(event: NewEvent | RecordedEvent, logged: Appended | RecordedEvent) -> AmendmentOut:
    """The answer to an amendment, the same whether just written or read back for a replay."""
    changes = event.data.get("changes", {})
    return AmendmentOut(
        event_id=logged.event_id,
        position=logged.position,
        type=event.type,
        target_event_id=event.target_event_id or "",
        place_ids=sorted({event.stream_id, changes.get("place_id", event.stream_id)}),
        place_created=bool(event.data.get("place_created", False)),
    )
