"""Recording reports: each one's claims resolved and checked, then all of its events appended, or
none of them.

`record_reports` records a batch of reports in the caller's transaction (the report writer's group
commit, or the importer's): every report is all or nothing on its own; a bad one is answered with
its errors and writes nothing, while the others in the batch go in.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel

from services.domain.control import validate_claim_fields
from services.domain.errors import InvalidClaim, Unresolved
from services.domain.events import CONTROL_CHANGED, RecordedEvent
from services.domain.places import Location
from services.domain.shares import to_hundredths
from services.gazetteer import Gazetteer
from services.ingest.problems import FieldError, IdConflict, Rejected, unknown_place
from services.ingest.resolution import PlaceQuery, PlaceResolution, PlaceResolver
from services.ingest.schemas import ClaimIn, ReportIn, ReportOut, parse_occurred_cached
from services.store import event_log, requests
from services.store import places as place_store
from services.store.actors import ActorDirectory
from services.store.event_log import NewEvent, new_event_ids

KIND = "report"

# Shares repeat (and each claim's is converted twice): remember the Decimal arithmetic's answers.
_hundredths = functools.lru_cache(maxsize=4096)(to_hundredths)


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
    places = PlaceResolver(conn, gazetteer)
    stored = _stored_and_places(conn, batch, places)
    fresh: dict[str, int] = {}
    for i, submission in enumerate(batch):
        report_id = submission.report.id
        if report_id in stored:
            results[i] = None if stored[report_id] == submission.digest else IdConflict(KIND, report_id)
        elif report_id in fresh:
            results[i] = Deferred()
        else:
            fresh[report_id] = i
    prepared = _prepare(batch, list(fresh.values()), _ClaimReader(conn, actors, places), results)
    claimed, appended = event_log.claim_and_append(
        conn,
        KIND,
        {batch[i].report.id: batch[i].digest for i in prepared},
        [e for new_events in prepared.values() for e in new_events],
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


def _stored_and_places(
    conn: sa.Connection, batch: Sequence[Submission], places: PlaceResolver
) -> dict[str, str]:
    """The hashes stored for the batch's report ids; every recorded place its claims may name is
    preloaded into `places`. The batch's reads: one round trip on PostgreSQL."""
    stored, found = place_store.stored_hashes_and_places(
        conn,
        KIND,
        [s.report.id for s in batch],
        places.keys([c.place for s in batch for c in s.report.claims]),
    )
    places.learn(found)
    return stored


def _prepare(
    batch: Sequence[Submission], indices: list[int], reader: _ClaimReader, results: list[Result | None]
) -> dict[int, list[NewEvent]]:
    prepared: dict[int, list[NewEvent]] = {}
    for i in indices:
        try:
            prepared[i] = reader.events(batch[i].report)
            reader.places.accept()
        except Rejected as rejected:
            reader.places.discard()
            results[i] = rejected
    reader.places.record()
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


class _ClaimReader:
    """Turns the claims of one batch's reports into events, or into their errors.

    A large report names the same few actors, places and dates over and over: each actor name is
    resolved once per batch here (places are memoised by the resolver, dates by
    `parse_occurred_cached`), which keeps a 1000-claim report from costing 1000 lookups of each.
    """

    def __init__(self, conn: sa.Connection, actors: ActorDirectory, places: PlaceResolver) -> None:
        self._conn = conn
        self._directory = actors
        self.places = places
        self._actors: dict[str, str | Unresolved] = {}

    def events(self, report: ReportIn) -> list[NewEvent]:
        """The report's events; Rejected with every claim's errors when any claim is bad."""
        source = report.source.model_dump(mode="json")
        event_ids = new_event_ids(len(report.claims))
        errors: list[FieldError] = []
        new_events = []
        for index, claim in enumerate(report.claims):
            try:
                new_events.append(self._event(report, index, claim, source, event_ids[index]))
            except Rejected as exc:
                errors.extend(exc.errors)
        if errors:
            raise Rejected(errors)
        return new_events

    def _event(
        self, report: ReportIn, index: int, claim: ClaimIn, source: dict[str, Any], event_id: str
    ) -> NewEvent:
        actor = self._actor_id(claim.actor)
        from_actor = self._actor_id(claim.from_actor) if claim.from_actor is not None else None
        supporting = [self._actor_id(name) for name in claim.supporting_actors]
        location = Location(claim.location.lat, claim.location.lon) if claim.location else None
        try:
            resolution: PlaceResolution | Unresolved = self.places.resolve(
                PlaceQuery(claim.place, claim.country, location)
            )
        except Unresolved as exc:
            resolution = exc
        if (
            isinstance(actor, Unresolved)
            or isinstance(from_actor, Unresolved)
            or isinstance(resolution, Unresolved)
            or any(isinstance(s, Unresolved) for s in supporting)
        ):
            raise Rejected(_resolution_errors(index, actor, from_actor, supporting, resolution))
        data = claim_data(
            report,
            index,
            claim,
            resolution.place.place_id,
            actor,
            from_actor,
            [s for s in supporting if isinstance(s, str)],
            resolution.created,
            source=source,
        )
        _check_algebra(data, ["body", "claims", index])
        return NewEvent(
            type=CONTROL_CHANGED,
            stream_id=resolution.place.place_id,
            data=data,
            occurred=parse_occurred_cached(claim.occurred_at),
            request_id=report.id,
            event_id=event_id,
        )

    def _actor_id(self, name: str) -> str | Unresolved:
        # The directory reloads on a miss: remembering the miss keeps that to once per batch.
        if name not in self._actors:
            try:
                self._actors[name] = self._directory.resolve(self._conn, name).actor_id
            except Unresolved as exc:
                self._actors[name] = exc
        return self._actors[name]


def _resolution_errors(
    index: int,
    actor: str | Unresolved,
    from_actor: str | Unresolved | None,
    supporting: list[str | Unresolved],
    place: PlaceResolution | Unresolved,
) -> list[FieldError]:
    """A claim's names that resolved to nothing, as field errors (actors first, then the place)."""
    loc: list[str | int] = ["body", "claims", index]
    named = [("actor", actor), ("from_actor", from_actor), *(("supporting_actors", s) for s in supporting)]
    errors = [
        FieldError([*loc, field], str(exc), "unknown_actor", exc.suggestions)
        for field, exc in named
        if isinstance(exc, Unresolved)
    ]
    if isinstance(place, Unresolved):
        errors.append(unknown_place([*loc, "place"], place))
    return errors


def claim_data(
    report: ReportIn,
    index: int,
    claim: ClaimIn,
    place_id: str,
    actor_id: str,
    from_actor_id: str | None,
    supporting_actor_ids: list[str],
    place_created: bool,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The data of a ControlChanged event (schema version 1).

    `source` is `report.source` as JSON, when the caller has it already (the same for every claim
    of a report); the events may share it, as nothing changes event data once built.
    """
    return {
        "report_id": report.id,
        "claim_index": index,
        "place_id": place_id,
        "place_name": claim.place,
        "place_created": place_created,
        "actor_id": actor_id,
        "share": _hundredths(claim.share) / 100,
        "from_actor_id": from_actor_id,
        "occurred_at": claim.occurred_at,
        "supporting_actor_ids": supporting_actor_ids,
        "note": claim.note,
        "source": report.source.model_dump(mode="json") if source is None else source,
    }


def _check_algebra(data: dict[str, Any], loc: list[str | int]) -> None:
    # The same check the fold applies: a claim it would reject is refused here, at the door.
    try:
        validate_claim_fields(
            data["actor_id"], _hundredths(data["share"]), data["from_actor_id"], data["supporting_actor_ids"]
        )
    except InvalidClaim as exc:
        raise Rejected([FieldError(loc, str(exc), "invalid_claim")]) from None


def _recorded_out(event: NewEvent | dict[str, Any], appended: Any) -> dict[str, Any]:
    # A RecordedEventOut as a dict: `_answer` validates them all in one call (a model built per
    # event costs twice as much for a 1000-claim report).
    data = event.data if isinstance(event, NewEvent) else event
    return {
        "event_id": appended.event_id,
        "position": appended.position,
        "place_id": data["place_id"],
        "actor_id": data["actor_id"],
        "place_created": data["place_created"],
    }


def _answer(report_id: str, events: list[dict[str, Any]]) -> ReportOut:
    return ReportOut.model_validate(
        {"report_id": report_id, "position": events[-1]["position"], "events": events}
    )
