"""One rule for request ids, with no I/O: reports, corrections and retractions decide through it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.domain.events import CLAIM_CORRECTED, CLAIM_RETRACTED
from services.ingest import idempotency
from services.ingest.corrections import RetractionIn, record_amendment
from services.ingest.idempotency import CORRECTION, RETRACTION, Verdict, body_hash, verdict, verdicts
from services.ingest.problems import IdConflict
from services.store.event_log import NewEvent
from tests.unit.fake_ledger import FakeLedger


def test_a_request_is_new_a_replay_or_a_conflict_by_its_stored_hash() -> None:
    stored = {"r1": "h1"}
    assert verdict("r2", "h1", stored) is Verdict.NEW
    assert verdict(None, "h1", stored) is Verdict.NEW  # no id: nothing to repeat
    assert verdict("r1", "h1", stored) is Verdict.REPLAY
    assert verdict("r1", "h2", stored) is Verdict.CONFLICT


def test_a_new_id_twice_in_one_batch_is_deferred_the_second_time_a_stored_one_is_not() -> None:
    batch = [("a", "h1"), ("a", "h2"), ("s", "h1"), ("s", "h1"), ("s", "h2")]
    assert verdicts(batch, {"s": "h1"}) == [
        Verdict.NEW,
        Verdict.DEFERRED,
        Verdict.REPLAY,
        Verdict.REPLAY,
        Verdict.CONFLICT,
    ]


def test_a_lost_claim_is_a_replay_or_a_conflict_and_never_new() -> None:
    assert idempotency.lost("r", "h", {"r": "h"}) is Verdict.REPLAY
    assert idempotency.lost("r", "h", {"r": "other"}) is Verdict.CONFLICT
    with pytest.raises(RuntimeError):
        idempotency.lost("r", "h", {})


def test_the_body_hash_ignores_key_order() -> None:
    one = RetractionIn.model_validate({"id": "x", "event_id": "e", "reason": "r"})
    two = RetractionIn.model_validate({"reason": "r", "event_id": "e", "id": "x"})
    other = RetractionIn.model_validate({"id": "x", "event_id": "e", "reason": "s"})
    assert body_hash(one) == body_hash(two) != body_hash(other)


def correction(request_id: str = "c1") -> NewEvent:
    data = {"event_id": "e1", "changes": {"place_id": "rawa-iq"}, "reason": "moved", "place_created": False}
    return NewEvent(CLAIM_CORRECTED, "anah-iq", data, request_id=request_id, target_event_id="e1")


class Decide:
    """The decision of an amendment, counting how often it is asked for."""

    def __init__(self, event: Callable[[], NewEvent]) -> None:
        self.event = event
        self.calls = 0

    def __call__(self) -> NewEvent:
        self.calls += 1
        return self.event()


def test_a_new_correction_is_written_and_answered_from_what_was_written() -> None:
    ledger = FakeLedger()
    amended = record_amendment(ledger, CORRECTION, "c1", "h", Decide(correction))
    assert amended.created
    assert amended.answer.position == 1 and amended.answer.type == "ClaimCorrected"
    assert amended.answer.place_ids == ["anah-iq", "rawa-iq"]
    assert ledger.hashes == {("correction", "c1"): "h"}


def test_a_correction_sent_again_is_answered_as_the_first_time_without_deciding_again() -> None:
    ledger = FakeLedger()
    first = record_amendment(ledger, CORRECTION, "c1", "h", Decide(correction))
    decide = Decide(correction)
    again = record_amendment(ledger, CORRECTION, "c1", "h", decide)
    assert not again.created and again.answer == first.answer
    assert decide.calls == 0 and len(ledger.log) == 1


def test_a_correction_id_used_with_another_body_is_a_conflict_and_writes_nothing() -> None:
    ledger = FakeLedger()
    record_amendment(ledger, CORRECTION, "c1", "h", Decide(correction))
    decide = Decide(correction)
    with pytest.raises(IdConflict) as raised:
        record_amendment(ledger, CORRECTION, "c1", "other", decide)
    assert raised.value == IdConflict("correction", "c1")
    assert decide.calls == 0 and len(ledger.log) == 1


def test_a_correction_whose_id_a_concurrent_writer_claimed_first_is_its_replay_or_conflict() -> None:
    ledger = FakeLedger(rival={"c1": "other"})
    with pytest.raises(IdConflict):
        record_amendment(ledger, CORRECTION, "c1", "h", Decide(correction))
    assert ledger.log == []


def test_a_correction_without_an_id_is_appended_every_time() -> None:
    ledger = FakeLedger()
    unnamed = Decide(lambda: NewEvent(CLAIM_CORRECTED, "anah-iq", {"changes": {}}, target_event_id="e1"))
    assert record_amendment(ledger, CORRECTION, None, "h", unnamed).created
    assert record_amendment(ledger, CORRECTION, None, "h", unnamed).created
    assert len(ledger.log) == 2 and ledger.hashes == {}


def test_retraction_ids_are_apart_from_correction_ids() -> None:
    ledger = FakeLedger()
    record_amendment(ledger, CORRECTION, "x", "h", Decide(lambda: correction("x")))
    retraction = NewEvent(
        CLAIM_RETRACTED, "anah-iq", {"event_id": "e1"}, request_id="x", target_event_id="e1"
    )
    retracted = record_amendment(ledger, RETRACTION, "x", "h2", Decide(lambda: retraction))
    assert retracted.created and retracted.answer.place_ids == ["anah-iq"]
    again = record_amendment(ledger, RETRACTION, "x", "h2", Decide(lambda: retraction))
    assert again.answer == retracted.answer and not again.created


def test_a_correction_whose_concurrent_twin_was_recorded_first_is_answered_as_the_twin() -> None:
    ledger = FakeLedger()
    twin = record_amendment(ledger, CORRECTION, "c1", "h", Decide(correction))
    # Read before the twin committed: not stored yet; the claim then finds it stored.
    ledger.rival = {"c1": ledger.hashes.pop(("correction", "c1"))}
    amended = record_amendment(ledger, CORRECTION, "c1", "h", Decide(correction))
    assert not amended.created and amended.answer == twin.answer
    assert len(ledger.log) == 1
