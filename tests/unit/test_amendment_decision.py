"""Deciding a correction or a retraction from a claim's history, with no I/O."""

from __future__ import annotations

import pytest

from services.domain.events import CLAIM_CORRECTED, CLAIM_RETRACTED, RecordedEvent
from services.ingest.corrections import (
    CorrectionIn,
    RetractionIn,
    correction_event,
    current_claim,
    retraction_event,
)
from services.ingest.problems import AlreadyRetracted, EventNotFound, Rejected
from services.store.event_log import NewEvent
from tests.support.events import claim_corrected, claim_retracted, control_changed
from tests.unit.fake_ledger import FakeLedger


def logged(*events: NewEvent) -> list[RecordedEvent]:
    ledger = FakeLedger()
    for event in events:
        ledger.write_unclaimed(event)
    return ledger.log


CLAIM = control_changed("anah-iq", "isf", 60, "2017-11-03", from_actor="isis")


def test_the_current_claim_has_every_correction_applied() -> None:
    history = logged(
        CLAIM, claim_corrected(CLAIM, "anah-iq", share=40), claim_corrected(CLAIM, "anah-iq", note="n")
    )
    claim = current_claim(CLAIM.event_id, history)
    assert (claim.event_id, claim.actor_id, claim.share, claim.note) == (CLAIM.event_id, "isf", 4000, "n")


def test_no_claim_event_or_a_retracted_one_cannot_be_amended() -> None:
    with pytest.raises(EventNotFound):
        current_claim("e", [])
    with pytest.raises(EventNotFound):  # a correction's id is not a claim's
        current_claim("e", logged(claim_corrected(CLAIM, "anah-iq", share=40)))
    with pytest.raises(AlreadyRetracted):
        current_claim(CLAIM.event_id, logged(CLAIM, claim_retracted(CLAIM, "anah-iq")))


def test_a_correction_is_an_event_on_the_claims_stream_naming_it() -> None:
    body = CorrectionIn.model_validate(
        {"id": "c1", "event_id": CLAIM.event_id, "changes": {"share": 40}, "reason": "recount"}
    )
    claim = current_claim(CLAIM.event_id, logged(CLAIM))
    event = correction_event(body, claim, {"share": 40.0}, place_created=False)
    assert (event.type, event.stream_id, event.request_id, event.target_event_id) == (
        CLAIM_CORRECTED,
        "anah-iq",
        "c1",
        CLAIM.event_id,
    )
    assert event.data["changes"] == {"share": 40.0} and event.data["reason"] == "recount"


def test_a_correction_that_breaks_the_algebra_is_rejected() -> None:
    body = CorrectionIn.model_validate(
        {"event_id": CLAIM.event_id, "changes": {"actor": "ISIS"}, "reason": "r"}
    )
    claim = current_claim(CLAIM.event_id, logged(CLAIM))
    with pytest.raises(Rejected) as rejected:
        correction_event(body, claim, {"actor_id": "isis"}, place_created=False)  # from_actor is isis
    assert rejected.value.errors[0].type == "invalid_claim"


def test_a_retraction_is_an_event_on_the_claims_stream_naming_it() -> None:
    body = RetractionIn.model_validate({"event_id": CLAIM.event_id, "reason": "wrong"})
    event = retraction_event(body, current_claim(CLAIM.event_id, logged(CLAIM)))
    assert (event.type, event.stream_id, event.request_id, event.target_event_id) == (
        CLAIM_RETRACTED,
        "anah-iq",
        None,
        CLAIM.event_id,
    )
