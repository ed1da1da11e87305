"""Deciding a batch of reports, with no I/O: the stored hashes and the names it resolves are fakes.

Each report is decided on its own: new (its events), a replay, a conflict, deferred (its id came
earlier in the batch), or rejected with the errors of its bad claims, and nothing else changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from services.domain.errors import Unresolved
from services.domain.events import CONTROL_CHANGED
from services.domain.places import Place
from services.ingest.idempotency import REPORT, body_hash
from services.ingest.problems import IdConflict, Rejected
from services.ingest.reports import (
    Deferred,
    New,
    Outcome,
    Replay,
    Result,
    Submission,
    decide,
    write_and_answer,
)
from services.ingest.resolution import PlaceQuery, PlaceResolution
from services.ingest.schemas import ReportIn
from tests.unit.fake_ledger import FakeLedger

RAWA = Place("rawa-iq", "Rawa", "IQ")
NEW_TOWN = Place("camp-seven-iq", "Camp Seven", "IQ")


@dataclass
class FakeNames:
    """Known actors and places by name; Camp Seven is a place a claim creates (staged until accepted)."""

    actors: dict[str, str] = field(default_factory=lambda: {"ISF": "isf", "PMF": "pmf", "ISIS": "isis"})
    places: dict[str, Place] = field(default_factory=lambda: {"Rawa": RAWA})
    asked: list[str] = field(default_factory=list)
    accepted: int = 0
    discarded: int = 0

    def actor(self, name: str) -> str | Unresolved:
        self.asked.append(name)
        return self.actors.get(name) or Unresolved("actor", name, ["ISF"])

    def place(self, query: PlaceQuery) -> PlaceResolution | Unresolved:
        self.asked.append(query.name)
        if query.name == NEW_TOWN.name:
            return PlaceResolution(NEW_TOWN, created=True)
        known = self.places.get(query.name)
        return PlaceResolution(known, created=False) if known else Unresolved("place", query.name, [])

    def accept(self) -> None:
        self.accepted += 1

    def discard(self) -> None:
        self.discarded += 1


GOOD = {"place": "Rawa", "actor": "ISF", "occurred_at": "2017-11-17"}


def submission(*claims: dict[str, Any], report_id: str | None = None) -> Submission:
    report = ReportIn.model_validate(
        {"id": report_id or uuid.uuid4().hex, "source": {"name": "t"}, "claims": list(claims or [GOOD])}
    )
    return Submission(report, body_hash(report))


def test_a_new_report_becomes_one_event_per_claim() -> None:
    names = FakeNames()
    new = submission(GOOD, {**GOOD, "place": "Camp Seven", "actor": "PMF", "from_actor": "ISIS", "share": 40})
    [decision] = decide([new], {}, names)
    assert isinstance(decision, New) and decision.submission == new
    first, second = decision.events
    assert (first.type, first.stream_id, first.request_id) == (CONTROL_CHANGED, "rawa-iq", new.report.id)
    assert (
        first.data["actor_id"] == "isf" and first.occurred is not None and first.occurred.text == "2017-11-17"
    )
    assert second.data["place_created"] and second.data["from_actor_id"] == "isis"
    assert second.data["share"] == 40 and second.data["claim_index"] == 1
    assert first.event_id != second.event_id
    assert (names.accepted, names.discarded) == (1, 0)


def test_a_report_stored_with_the_same_body_is_a_replay_and_resolves_nothing() -> None:
    names = FakeNames()
    again = submission()
    assert decide([again], {again.report.id: again.digest}, names) == [Replay(again)]
    assert names.asked == []


def test_a_report_id_stored_with_another_body_is_a_conflict() -> None:
    other = submission()
    decisions = decide([other], {other.report.id: "another hash"}, FakeNames())
    assert decisions == [IdConflict("report", other.report.id)]


def test_a_new_id_twice_in_one_batch_is_deferred_the_second_time() -> None:
    first = submission()
    same = submission(report_id=first.report.id)
    different = submission({**GOOD, "share": 50}, report_id=first.report.id)
    decisions = decide([first, same, different], {}, FakeNames())
    assert isinstance(decisions[0], New)
    assert decisions[1:] == [Deferred(), Deferred()]


def test_a_bad_claim_rejects_only_its_report_with_every_claims_errors() -> None:
    names = FakeNames()
    good = submission()
    bad = submission(
        {**GOOD, "place": "Camp Seven"},
        {**GOOD, "actor": "Nobody"},
        {**GOOD, "place": "Nowhere", "from_actor": "Nobody either"},
        {**GOOD, "from_actor": "ISF"},
    )
    decisions = decide([good, bad, submission()], {}, names)
    assert isinstance(decisions[0], New) and isinstance(decisions[2], New)
    rejected = decisions[1]
    assert isinstance(rejected, Rejected)
    assert [(e.loc, e.type) for e in rejected.errors] == [
        (["body", "claims", 1, "actor"], "unknown_actor"),
        (["body", "claims", 2, "from_actor"], "unknown_actor"),
        (["body", "claims", 2, "place"], "unknown_place"),
        (["body", "claims", 3], "invalid_claim"),  # an actor cannot take a place from itself
    ]
    assert rejected.errors[0].suggestions == ["ISF"]
    assert (names.accepted, names.discarded) == (2, 1)  # Camp Seven, staged by the bad one, is dropped


def test_decided_reports_are_answered_from_what_was_written_then_as_the_first_time() -> None:
    ledger = FakeLedger()
    new, bad = submission(GOOD, {**GOOD, "actor": "PMF"}), submission({**GOOD, "actor": "Nobody"})
    first = record(ledger, [new, bad])
    assert isinstance(first[0], Outcome) and first[0].created and isinstance(first[1], Rejected)
    assert [e.position for e in first[0].answer.events] == [1, 2] and first[0].answer.position == 2
    assert [e.actor_id for e in first[0].answer.events] == ["isf", "pmf"]
    again = record(ledger, [new])
    assert again == [Outcome(first[0].answer, created=False)]
    assert len(ledger.log) == 2


def test_a_report_whose_id_a_concurrent_writer_claimed_first_is_its_replay_or_conflict() -> None:
    ledger = FakeLedger()
    twin, rival = submission(), submission()
    [recorded] = record(ledger, [twin])
    ledger.rival = {twin.report.id: ledger.hashes.pop(("report", twin.report.id)), rival.report.id: "other"}
    assert isinstance(recorded, Outcome)
    assert record(ledger, [twin, rival]) == [
        Outcome(recorded.answer, created=False),
        IdConflict("report", rival.report.id),
    ]
    assert len(ledger.log) == 1


def record(ledger: FakeLedger, batch: list[Submission]) -> list[Result]:
    """decide -> write -> answer, as `record_reports` runs them, on the fakes."""
    stored = ledger.stored_hashes(REPORT, [s.report.id for s in batch])
    return write_and_answer(ledger, decide(batch, stored, FakeNames()))
