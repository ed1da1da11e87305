"""Claim rows as the projector writes them since the compact `state_after`: rows of the first,
spelled-out format read as they are and judged equal to a rebuild's by `frontline verify`; rows
streamed to COPY as their places fold, and none of them kept when the fold fails half-way."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from services.domain.control import PlaceControl
from services.domain.errors import InvalidClaim
from services.projector import rebuild, runner
from services.projector.batch import Batch, ProjectionError
from services.store import checkpoints, event_log
from services.store.control_rows import ClaimRecord, state_after_of
from services.store.database import Database
from services.store.read_models import PROJECTION, tables
from tests.support.events import control_changed

HISTORY = [
    ("abu-kamal-sy", "saa", 100, "2017-11-08", "is"),
    ("abu-kamal-sy", "is", 40, "2017-11-10", "saa"),
    ("abu-kamal-sy", "sdf", 10, "2017-11-12", "is"),
    ("rawa-iq", "isf", 100, "2017-11-17", None),
    ("abu-kamal-sy", "saa", 100, "2017-11-09", None),  # late: re-folds the two after it
]


def spelled_out(state: PlaceControl) -> dict[str, Any]:
    """A state as the first format stored it."""
    key = state.last_key
    return {
        "h": [[h.actor_id, h.share, h.since.text, h.event_id, h.report_id] for h in state.holdings],
        "k": [key[0].isoformat(), key[1]] if key else None,
        "e": state.last_event_id,
        "c": state.changed_at.text if state.changed_at else None,
        "n": 1,  # the count of claims folded this format kept (services.store.control_rows)
    }


def rewrite_states(db: Database, change: Any = lambda state: state) -> dict[str, PlaceControl]:
    """Store every claim's state in the first format (through `change`); the states as they were."""
    c = tables().claims
    states = stored_states(db)
    with db.transaction() as conn:
        for event_id, state in states.items():
            new = spelled_out(change(state))
            conn.execute(c.update().where(c.c.event_id == event_id).values(state_after=new))
    return states


def stored_states(db: Database) -> dict[str, PlaceControl]:
    c = tables().claims
    with db.snapshot() as conn:
        return {
            r.event_id: state_after_of(r) for r in conn.execute(sa.select(c)) if r.state_after is not None
        }


def test_states_in_the_first_format_read_back_and_verify_clean(db: Database) -> None:
    with db.transaction() as conn:
        event_log.append(conn, [control_changed(p, a, s, w, giver) for p, a, s, w, giver in HISTORY])
    assert runner.catch_up(db).caught_up
    compact = rewrite_states(db)
    assert len(compact) == len(HISTORY)
    assert stored_states(db) == compact  # the same states, read from the first format
    assert rebuild.verify(db) == []


def test_verify_still_finds_a_state_that_is_wrong(db: Database) -> None:
    with db.transaction() as conn:
        event_log.append(conn, [control_changed(p, a, s, w, giver) for p, a, s, w, giver in HISTORY])
    assert runner.catch_up(db).caught_up
    rawa = next(e for e, s in stored_states(db).items() if s.holdings[0].actor_id == "isf")

    def halved(state: PlaceControl) -> PlaceControl:
        if state.last_event_id != rawa:
            return state
        return state._replace(holdings=(state.holdings[0]._replace(share=5000),))

    rewrite_states(db, halved)
    [difference] = rebuild.verify(db)
    assert (difference.table, difference.only_in_live, difference.only_in_rebuilt) == ("rm_claims", 1, 1)
    assert rawa in difference.examples[0] and "5000" in difference.examples[0]


def test_a_fold_failing_while_its_rows_are_copied_writes_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new claims go to COPY while their places fold (runner.write_batch): a failure in the
    middle of that fold aborts the COPY and the batch, and the projection stops at the batch."""
    with db.transaction() as conn:
        event_log.append(conn, [control_changed(p, a, s, w, giver) for p, a, s, w, giver in HISTORY])
    folding = Batch._fold_place

    def failing(batch: Batch, start: Any, bound: Any, records: list[ClaimRecord]) -> PlaceControl:
        if any(r.claim.place_id == "rawa-iq" for r in records):  # folded after Abu Kamal's rows went out
            raise InvalidClaim("a claim the algebra cannot apply")
        return folding(batch, start, bound, records)

    monkeypatch.setattr(Batch, "_fold_place", failing)
    with pytest.raises(ProjectionError, match="folding failed"):
        runner.catch_up(db)
    with db.snapshot() as conn:
        checkpoint = checkpoints.read(conn, PROJECTION)
        claim_rows = conn.execute(sa.select(sa.func.count()).select_from(tables().claims)).scalar_one()
    assert claim_rows == 0
    assert checkpoint is not None and (checkpoint.status, checkpoint.position) == ("failed", 0)
    assert "folding failed" in (checkpoint.error or "")
    assert runner.catch_up(db).events == 0  # stopped at its first batch, not retried by every job
