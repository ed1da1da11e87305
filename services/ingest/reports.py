"""Recording a report: every claim resolved and checked, then all its events appended, or none."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel

from services.domain.claims import Claim
from services.domain.control import validate_claim
from services.domain.errors import InvalidClaim, Unresolved
from services.domain.events import CONTROL_CHANGED, RecordedEvent
from services.domain.occurred import parse_occurred
from services.domain.places import Location
from services.domain.shares import to_hundredths
from services.gazetteer import Gazetteer
from services.ingest.problems import FieldError, IdConflict, Rejected
from services.ingest.resolution import PlaceQuery, PlaceResolver
from services.ingest.schemas import ClaimIn, RecordedEventOut, ReportIn, ReportOut
from services.store import event_log, requests
from services.store.actors import ActorDirectory
from services.store.event_log import NewEvent

KIND = "report"


@dataclass(frozen=True)
class Outcome:
    """What recording a request did: `created` False means it was recorded before (a replay)."""

    answer: ReportOut
    created: bool


def body_hash(body: BaseModel) -> str:
    """A hash of the request's meaning: key order and whitespace do not change it."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def previous_outcome(conn: sa.Connection, report: ReportIn, digest: str) -> Outcome | None:
    """The first answer when this report id was recorded before with the same body.

    Raises IdConflict when the id was recorded with a different body.
    """
    stored = requests.stored_hash(conn, KIND, report.id)
    if stored is None:
        return None
    if stored != digest:
        raise IdConflict(KIND, report.id)
    return Outcome(_answer(report.id, event_log.read_request(conn, report.id, CONTROL_CHANGED)), False)


def record_report(
    conn: sa.Connection,
    report: ReportIn,
    actors: ActorDirectory,
    gazetteer: Gazetteer,
    digest: str | None = None,
) -> Outcome:
    """Record `report` in the caller's transaction (which must be a write transaction).

    Raises Rejected (422) listing every bad claim, IdConflict (409) for a reused id; either way
    the caller must roll back, and nothing is written. A duplicate of a recorded report returns
    the first answer with `created` False.
    """
    digest = digest or body_hash(report)
    if (earlier := previous_outcome(conn, report, digest)) is not None:
        return earlier
    new_events = _events(conn, report, actors, gazetteer)
    if not requests.claim(conn, KIND, report.id, digest):
        # A concurrent duplicate committed while we resolved names (claim() waited for it): answer
        # as it did. What this transaction wrote so far is only the places the winner recorded too.
        earlier = previous_outcome(conn, report, digest)
        assert earlier is not None, "a claimed request id always has a stored hash"
        return earlier
    appended = event_log.append(conn, new_events)
    recorded = [
        RecordedEventOut(
            event_id=a.event_id,
            position=a.position,
            place_id=e.data["place_id"],
            actor_id=e.data["actor_id"],
            place_created=e.data["place_created"],
        )
        for a, e in zip(appended, new_events, strict=True)
    ]
    return Outcome(ReportOut(report_id=report.id, position=recorded[-1].position, events=recorded), True)


def _events(
    conn: sa.Connection, report: ReportIn, actors: ActorDirectory, gazetteer: Gazetteer
) -> list[NewEvent]:
    places = PlaceResolver(conn, gazetteer)
    places.preload([c.place for c in report.claims])
    errors: list[FieldError] = []
    new_events = []
    for index, claim in enumerate(report.claims):
        try:
            new_events.append(_event(conn, report, index, claim, actors, places))
        except Rejected as exc:
            errors.extend(exc.errors)
    if errors:
        raise Rejected(errors)
    return new_events


def _event(
    conn: sa.Connection,
    report: ReportIn,
    index: int,
    claim: ClaimIn,
    actors: ActorDirectory,
    places: PlaceResolver,
) -> NewEvent:
    loc: list[str | int] = ["body", "claims", index]
    errors: list[FieldError] = []

    def actor_id(name: str | None, field: str) -> str | None:
        if name is None:
            return None
        try:
            return actors.resolve(conn, name).actor_id
        except Unresolved as exc:
            errors.append(FieldError([*loc, field], str(exc), "unknown_actor", exc.suggestions))
            return None

    actor = actor_id(claim.actor, "actor")
    from_actor = actor_id(claim.from_actor, "from_actor")
    supporting = [actor_id(name, "supporting_actors") for name in claim.supporting_actors]
    location = Location(claim.location.lat, claim.location.lon) if claim.location else None
    try:
        resolution = places.resolve(PlaceQuery(claim.place, claim.country, location))
    except Unresolved as exc:
        errors.append(FieldError([*loc, "place"], str(exc), "unknown_place", exc.suggestions))
    if errors:
        raise Rejected(errors)
    assert actor is not None
    data = claim_data(
        report,
        index,
        claim,
        resolution.place.place_id,
        actor,
        from_actor,
        [s for s in supporting if s is not None],
        resolution.created,
    )
    _check_algebra(data, loc)
    return NewEvent(
        type=CONTROL_CHANGED,
        stream_id=resolution.place.place_id,
        data=data,
        occurred=parse_occurred(claim.occurred_at),
        request_id=report.id,
    )


def claim_data(
    report: ReportIn,
    index: int,
    claim: ClaimIn,
    place_id: str,
    actor_id: str,
    from_actor_id: str | None,
    supporting_actor_ids: list[str],
    place_created: bool,
) -> dict[str, Any]:
    """The data of a ControlChanged event (schema version 1)."""
    return {
        "report_id": report.id,
        "claim_index": index,
        "place_id": place_id,
        "place_name": claim.place,
        "place_created": place_created,
        "actor_id": actor_id,
        "share": to_hundredths(claim.share) / 100,
        "from_actor_id": from_actor_id,
        "occurred_at": claim.occurred_at,
        "supporting_actor_ids": supporting_actor_ids,
        "note": claim.note,
        "source": report.source.model_dump(mode="json"),
    }


def _check_algebra(data: dict[str, Any], loc: list[str | int]) -> None:
    # The same check the fold applies: a claim it would reject is refused here, at the door.
    claim = Claim(
        event_id="",
        position=0,
        place_id=data["place_id"],
        actor_id=data["actor_id"],
        share=to_hundredths(data["share"]),
        occurred=parse_occurred(data["occurred_at"]),
        from_actor_id=data["from_actor_id"],
        supporting_actor_ids=tuple(data["supporting_actor_ids"]),
    )
    try:
        validate_claim(claim)
    except InvalidClaim as exc:
        raise Rejected([FieldError(loc, str(exc), "invalid_claim")]) from None


def _answer(report_id: str, recorded: list[RecordedEvent]) -> ReportOut:
    events = [
        RecordedEventOut(
            event_id=e.event_id,
            position=e.position,
            place_id=e.data["place_id"],
            actor_id=e.data["actor_id"],
            place_created=e.data["place_created"],
        )
        for e in recorded
    ]
    return ReportOut(report_id=report_id, position=events[-1].position, events=events)
