"""Recording reports: each one's claims resolved and checked, then all of its events appended, or
none of them.

`record_reports` records a batch of reports in the caller's transaction (the report writer's group
commit, or the importer's): every report is all or nothing on its own; a bad one is answered with
its errors and writes nothing, while the others in the batch go in. It runs in three steps:

1. decide (`decide`, pure given what was read): each report against the stored hashes of its id
   (`idempotency`), then a new one's claims resolved (`Names`) into its events, or its errors;
2. write: the places the accepted reports add, then one store call that claims their ids and
   appends their events;
3. answer: built from what was written, or, for a replay, from the events stored the first time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa

from services.domain.control import validate_claim_fields
from services.domain.errors import InvalidClaim, Unresolved
from services.domain.events import CONTROL_CHANGED, RecordedEvent
from services.domain.occurred import parse_occurred
from services.domain.places import Location
from services.domain.shares import to_hundredths
from services.gazetteer import Gazetteer
from services.ingest import idempotency
from services.ingest.idempotency import Ledger, StoreLedger, Verdict, Written
from services.ingest.idempotency import body_hash as body_hash
from services.ingest.problems import FieldError, IdConflict, Rejected, unknown_place
from services.ingest.resolution import PlaceQuery, PlaceResolution, PlaceResolver
from services.ingest.schemas import ClaimIn, ReportIn, ReportOut
from services.store import places as place_store
from services.store.actors import ActorDirectory
from services.store.event_log import Appended, NewEvent

KIND = idempotency.REPORT.name

# Shares repeat: remember the Decimal arithmetic's answers.
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


@dataclass(frozen=True)
class Deferred:
    """The same report id came twice in one batch: record the second in a later batch."""


Result = Outcome | Rejected | IdConflict | Deferred


@dataclass(frozen=True)
class New:
    """A report to record: its events, to be written."""

    submission: Submission
    events: tuple[NewEvent, ...]


@dataclass(frozen=True)
class Replay:
    """A report recorded before with the same body: answered from its stored events."""

    submission: Submission


Decision = New | Replay | Rejected | IdConflict | Deferred


class Names(Protocol):
    """What a batch's claims name, resolved. The places a report would add stay staged until the
    report is accepted (kept for the reports after it) or discarded (forgotten)."""

    def actor(self, name: str) -> str | Unresolved: ...

    def place(self, query: PlaceQuery) -> PlaceResolution | Unresolved: ...

    def accept(self) -> None: ...

    def discard(self) -> None: ...


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
    places = PlaceResolver(conn, gazetteer)
    decisions = decide(batch, _read(conn, batch, places), _StoreNames(conn, actors, places))
    places.record()  # the places the accepted reports add
    return write_and_answer(StoreLedger(conn), decisions)


def _read(conn: sa.Connection, batch: Sequence[Submission], places: PlaceResolver) -> dict[str, str]:
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


# Deciding


def decide(batch: Sequence[Submission], stored: Mapping[str, str], names: Names) -> list[Decision]:
    """What to do with each submission, in order, given the hashes stored for their ids."""
    found = idempotency.verdicts([(s.report.id, s.digest) for s in batch], stored)
    return [_decision(s, v, names) for s, v in zip(batch, found, strict=True)]


def _decision(submission: Submission, verdict: Verdict, names: Names) -> Decision:
    if verdict is Verdict.NEW:
        return _new(submission, names)
    if verdict is Verdict.REPLAY:
        return Replay(submission)
    if verdict is Verdict.CONFLICT:
        return IdConflict(KIND, submission.report.id)
    return Deferred()


def _new(submission: Submission, names: Names) -> New | Rejected:
    """The report's events; Rejected with every claim's errors when any claim is bad."""
    report = submission.report
    source = report.source.model_dump(mode="json")  # one for all its events: none changes it
    built = [_claim_event(report, i, claim, source, names) for i, claim in enumerate(report.claims)]
    errors = [error for b in built if isinstance(b, list) for error in b]
    if errors:
        names.discard()
        return Rejected(errors)
    names.accept()
    return New(submission, tuple(b for b in built if isinstance(b, NewEvent)))


class _Resolved(NamedTuple):
    actor: str
    from_actor: str | None
    supporting: list[str]
    place: PlaceResolution


def _claim_event(
    report: ReportIn, index: int, claim: ClaimIn, source: dict[str, Any], names: Names
) -> NewEvent | list[FieldError]:
    resolved = _resolve(index, claim, names)
    if isinstance(resolved, list):
        return resolved
    errors = _algebra_errors(index, resolved, _hundredths(claim.share))
    if errors:
        return errors
    place = resolved.place
    data = claim_data(
        report,
        index,
        claim,
        place.place.place_id,
        resolved.actor,
        resolved.from_actor,
        resolved.supporting,
        place.created,
        source=source,
    )
    occurred = parse_occurred(claim.occurred_at)
    return NewEvent(CONTROL_CHANGED, place.place.place_id, data, occurred, request_id=report.id)


def _resolve(index: int, claim: ClaimIn, names: Names) -> _Resolved | list[FieldError]:
    """The claim's names resolved, or the field errors of those that resolve to nothing."""
    actor = names.actor(claim.actor)
    from_actor = names.actor(claim.from_actor) if claim.from_actor is not None else None
    supporting = [names.actor(name) for name in claim.supporting_actors]
    location = Location(claim.location.lat, claim.location.lon) if claim.location else None
    place = names.place(PlaceQuery(claim.place, claim.country, location))
    known = [s for s in supporting if isinstance(s, str)]
    if (
        isinstance(actor, str)
        and not isinstance(from_actor, Unresolved)
        and isinstance(place, PlaceResolution)
        and len(known) == len(supporting)
    ):
        return _Resolved(actor, from_actor, known, place)
    return _resolution_errors(index, actor, from_actor, supporting, place)


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


def _algebra_errors(index: int, resolved: _Resolved, share: int) -> list[FieldError]:
    # The same check the fold applies: a claim it would reject is refused here, at the door.
    try:
        validate_claim_fields(resolved.actor, share, resolved.from_actor, resolved.supporting)
    except InvalidClaim as exc:
        return [FieldError(["body", "claims", index], str(exc), "invalid_claim")]
    return []


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


class _StoreNames:
    """`Names` on the store: the actor directory and the batch's place resolver.

    A large report names the same few actors over and over: each name is asked of the directory
    once per batch (it reloads on a miss, so a miss is remembered too). The resolver memoises places.
    """

    def __init__(self, conn: sa.Connection, directory: ActorDirectory, places: PlaceResolver) -> None:
        self._conn = conn
        self._directory = directory
        self._places = places
        self._actors: dict[str, str | Unresolved] = {}

    def actor(self, name: str) -> str | Unresolved:
        if name not in self._actors:
            self._actors[name] = self._lookup(name)
        return self._actors[name]

    def _lookup(self, name: str) -> str | Unresolved:
        try:
            return self._directory.resolve(self._conn, name).actor_id
        except Unresolved as exc:
            return exc

    def place(self, query: PlaceQuery) -> PlaceResolution | Unresolved:
        try:
            return self._places.resolve(query)
        except Unresolved as exc:
            return exc

    def accept(self) -> None:
        self._places.accept()

    def discard(self) -> None:
        self._places.discard()


# Writing and answering


def write_and_answer(ledger: Ledger, decisions: Sequence[Decision]) -> list[Result]:
    """Write the new reports' ids and events in one call, then answer every decision."""
    new = [d for d in decisions if isinstance(d, New)]
    digests = {d.submission.report.id: d.submission.digest for d in new}
    written = ledger.write(idempotency.REPORT, digests, [e for d in new for e in d.events])
    return _answers(ledger, decisions, written)


def _answers(ledger: Ledger, decisions: Sequence[Decision], written: Written) -> list[Result]:
    """Each decision's result: the new reports from what was written, the replays (and the new
    ones a concurrent writer recorded first) from the stored events."""
    # New reports whose id a concurrent writer claimed first (this one waited for it): stored now.
    lost = {
        d.submission.report.id: d.submission.digest
        for d in decisions
        if isinstance(d, New) and d.submission.report.id not in written.claimed
    }
    rechecked = ledger.stored_hashes(idempotency.REPORT, list(lost))
    settled = [_settle(d, written, rechecked) for d in decisions]
    replays = [d.submission.report.id for d in settled if isinstance(d, Replay)]
    stored = ledger.recorded(idempotency.REPORT, replays)
    return [_result(d, written, stored) for d in settled]


def _settle(decision: Decision, written: Written, stored: Mapping[str, str]) -> Decision:
    if not isinstance(decision, New) or decision.submission.report.id in written.claimed:
        return decision
    submission = decision.submission
    verdict = idempotency.lost(submission.report.id, submission.digest, stored)
    return Replay(submission) if verdict is Verdict.REPLAY else IdConflict(KIND, submission.report.id)


def _result(decision: Decision, written: Written, stored: Mapping[str, list[RecordedEvent]]) -> Result:
    if isinstance(decision, New):
        events = [_event_out(e.data, written.appended[e.event_id]) for e in decision.events]
        return Outcome(_answer(decision.submission.report.id, events), created=True)
    if isinstance(decision, Replay):
        report_id = decision.submission.report.id
        return Outcome(_answer(report_id, [_event_out(e.data, e) for e in stored[report_id]]), created=False)
    return decision


def _event_out(data: Mapping[str, Any], logged: Appended | RecordedEvent) -> dict[str, Any]:
    # A RecordedEventOut as a dict: `_answer` validates them all in one call (a model built per
    # event costs twice as much for a 1000-claim report).
    return {
        "event_id": logged.event_id,
        "position": logged.position,
        "place_id": data["place_id"],
        "actor_id": data["actor_id"],
        "place_created": data["place_created"],
    }


def _answer(report_id: str, events: list[dict[str, Any]]) -> ReportOut:
    return ReportOut.model_validate(
        {"report_id": report_id, "position": events[-1]["position"], "events": events}
    )
