"""Recording reports: each one's claims resolved and checked, then all of its events appended, or
none of them.

`record_reports` records a batch of reports in the caller's transaction (the report writer's group
commit, or the importer's): every report is all or nothing on its own; a bad one is answered with
its errors and writes nothing, while the others in the batch go in.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
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
class Submission:
    report: ReportIn
    digest: str


@dataclass(frozen=True)
class Outcome:
    """What recording a report did: `created` False means it was recorded before (a replay)."""

    answer: ReportOut
    created: bool


class Deferred(Exception):
    """The same report id came twice in one batch: record the second in a later batch."""


Result = Outcome | Rejected | IdConflict | Deferred


def body_hash(body: BaseModel) -> str:
    """A hash of the request's meaning: key order and whitespace do not change it."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def record_reports(
    conn: sa.Connection,
    batch: Sequence[Submission],
    actors: ActorDirectory,
    gazetteer: Gazetteer,
) -> list[Result]:
    """Record `batch` in the caller's (write) transaction; one result per submission, in order.

    A Rejected or IdConflict result wrote nothing for that report. An Outcome with `created` False
    is a report recorded before with the same body, answered as the first time.
    """
    results: list[Result | None] = [None] * len(batch)
    stored = requests.stored_hashes(conn, KIND, [s.report.id for s in batch])
    fresh: dict[str, int] = {}
    for i, submission in enumerate(batch):
        report_id = submission.report.id
        if report_id in stored:
            results[i] = None if stored[report_id] == submission.digest else IdConflict(KIND, report_id)
        elif report_id in fresh:
            results[i] = Deferred()
        else:
            fresh[report_id] = i
    prepared = _prepare(conn, batch, list(fresh.values()), actors, gazetteer, results)
    claimed = requests.claim_many(conn, KIND, {batch[i].report.id: batch[i].digest for i in prepared})
    appended = event_log.append(
        conn, [e for i in prepared if batch[i].report.id in claimed for e in prepared[i]]
    )
    positions = iter(appended)
    for i, new_events in prepared.items():
        if batch[i].report.id in claimed:
            recorded = [_recorded_out(e, next(positions)) for e in new_events]
            results[i] = Outcome(_answer(batch[i].report.id, recorded), created=True)
    _answer_replays(conn, batch, results)
    return [_settled(r) for r in results]


def _settled(result: Result | None) -> Result:
    # Every report id without a result was stored (before, or by a concurrent writer we waited for).
    if result is None:
        raise RuntimeError("a report id was neither recorded nor found stored")
    return result


def _prepare(
    conn: sa.Connection,
    batch: Sequence[Submission],
    indices: list[int],
    actors: ActorDirectory,
    gazetteer: Gazetteer,
    results: list[Result | None],
) -> dict[int, list[NewEvent]]:
    places = PlaceResolver(conn, gazetteer)
    places.preload([c.place for i in indices for c in batch[i].report.claims])
    prepared: dict[int, list[NewEvent]] = {}
    for i in indices:
        try:
            prepared[i] = _events(conn, batch[i].report, actors, places)
            places.accept()
        except Rejected as rejected:
            places.discard()
            results[i] = rejected
    places.record()
    return prepared


def _answer_replays(conn: sa.Connection, batch: Sequence[Submission], results: list[Result | None]) -> None:
    """Answer reports recorded before (or by a concurrent writer) as they were answered then."""
    stored = requests.stored_hashes(
        conn, KIND, [batch[i].report.id for i, r in enumerate(results) if r is None]
    )
    by_request: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in event_log.read_requests(conn, list(stored), CONTROL_CHANGED):
        by_request[event.request_id or ""].append(event)
    for i, result in enumerate(results):
        report_id = batch[i].report.id
        if result is not None or report_id not in stored:
            continue
        if stored[report_id] != batch[i].digest:
            results[i] = IdConflict(KIND, report_id)
        else:
            recorded = [_recorded_out(e.data, e) for e in by_request[report_id]]
            results[i] = Outcome(_answer(report_id, recorded), created=False)


def _events(
    conn: sa.Connection, report: ReportIn, actors: ActorDirectory, places: PlaceResolver
) -> list[NewEvent]:
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


def _recorded_out(event: NewEvent | dict[str, Any], appended: Any) -> RecordedEventOut:
    data = event.data if isinstance(event, NewEvent) else event
    return RecordedEventOut(
        event_id=appended.event_id,
        position=appended.position,
        place_id=data["place_id"],
        actor_id=data["actor_id"],
        place_created=data["place_created"],
    )


def _answer(report_id: str, events: list[RecordedEventOut]) -> ReportOut:
    return ReportOut(report_id=report_id, position=events[-1].position, events=events)
