"""The projection equals a fresh fold of the log and the contract's algebra, whatever the order
events arrive in, however they are batched, with corrections and retractions among them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from unittest import mock

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.domain.claims import Claim
from services.domain.control import fold_place
from services.domain.occurred import parse_occurred
from services.domain.shares import to_hundredths
from services.projector.runner import catch_up
from services.store import control_store, event_log
from services.store.control_rows import state_after_of
from services.store.database import Database
from services.store.read_models import tables
from tests.support import reference
from tests.support.events import claim_corrected, claim_retracted, control_changed

ACTORS = ["saa", "is", "sdf"]
DATES = ["2017", "2017-03", "2017-03-04", "2017-03-04T05:06:07Z", "2017-06", "2018"]

claim_op = st.tuples(
    st.just("claim"),
    st.integers(0, 2),
    st.sampled_from(ACTORS),
    st.sampled_from([0.0, 25.5, 40.0, 60.0, 100.0, 33.33]),
    st.one_of(st.none(), st.sampled_from(ACTORS)),
    st.sampled_from(DATES),
)
correct_op = st.tuples(
    st.just("correct"),
    st.integers(0, 50),
    st.one_of(st.none(), st.integers(0, 2)),
    st.one_of(st.none(), st.sampled_from(DATES)),
    st.one_of(st.none(), st.sampled_from([10.0, 50.0, 100.0])),
)
retract_op = st.tuples(st.just("retract"), st.integers(0, 50))
ops_strategy = st.lists(
    st.one_of(claim_op, claim_op, claim_op, correct_op, retract_op), min_size=1, max_size=25
)


@dataclass
class Model:
    """The test's own account of the effective claims: what the projection must show."""

    claims: dict[str, Claim]
    retracted: set[str]

    def live(self) -> list[Claim]:
        return [c for i, c in self.claims.items() if i not in self.retracted]


def _append(db: Database, events: list[Any]) -> list[int]:
    with db.transaction() as conn:
        return [a.position for a in event_log.append(conn, events)]


def run_example(db: Database, ops: list[tuple[Any, ...]], chunk: int, batch: int) -> tuple[Model, list[str]]:
    prefix = uuid.uuid4().hex[:8]
    places = [f"{prefix}-p{i}" for i in range(3)]
    model = Model({}, set())
    sources: dict[str, Any] = {}
    pending: list[Any] = []

    def flush() -> None:
        positions = _append(db, [e for e, _ in pending])
        for (event, claim), position in zip(pending, positions, strict=True):
            if claim is not None:
                model.claims[event.event_id] = claim._replace(position=position)
        pending.clear()
        catch_up(db, batch_size=batch)

    for op in ops:
        live = [
            i for i in list(model.claims) + [e.event_id for e, c in pending if c] if i not in model.retracted
        ]
        if op[0] == "claim":
            _, p, actor, share, giver, when = op
            giver = giver if giver != actor else None
            event = control_changed(places[p], actor, share, when, giver)
            claim = Claim(
                event.event_id,
                0,
                places[p],
                actor,
                to_hundredths(share),
                parse_occurred(when),
                giver,
                report_id="test-report",
            )
            sources[event.event_id] = event
            pending.append((event, claim))
        elif live:
            flush()  # corrections name claims already in the log
            target = model.claims[live[op[1] % len(live)]]
            if op[0] == "retract":
                pending.append((claim_retracted(sources[target.event_id], target.place_id), None))
                model.retracted.add(target.event_id)
            else:
                changes: dict[str, Any] = {}
                if op[2] is not None:
                    changes["place_id"] = places[op[2]]
                if op[3] is not None:
                    changes["occurred_at"] = op[3]
                if op[4] is not None:
                    changes["share"] = op[4]
                pending.append((claim_corrected(sources[target.event_id], target.place_id, **changes), None))
                model.claims[target.event_id] = target._replace(
                    place_id=changes.get("place_id", target.place_id),
                    occurred=parse_occurred(changes["occurred_at"])
                    if "occurred_at" in changes
                    else target.occurred,
                    share=to_hundredths(changes["share"]) if "share" in changes else target.share,
                )
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    return model, places


def check(db: Database, model: Model, places: list[str]) -> None:
    t = tables()
    with db.snapshot() as conn:
        states = {
            r.place_id: r
            for r in conn.execute(sa.select(t.place_state).where(t.place_state.c.place_id.in_(places)))
        }
        rows = {
            r.event_id: r
            for r in conn.execute(sa.select(t.claims).where(t.claims.c.event_id.in_(list(model.claims))))
        }
    for place in places:
        claims = [c for c in model.live() if c.place_id == place]
        folded = fold_place(claims)
        row = states.get(place)
        if row is None:
            assert not claims and all(c.place_id != place for c in model.claims.values())
            continue
        stored = [(h["actor_id"], h["share"], h["since"]) for h in row.holdings]
        assert stored == [(h.actor_id, h.share, h.since.text) for h in folded.holdings]
        assert row.status == folded.status
        expected: dict[str, Decimal] = {}
        for c in sorted(claims, key=lambda c: c.order_key):
            expected = reference.apply(expected, c.actor_id, Decimal(c.share) / 100, c.from_actor_id)
        assert {a: Decimal(s) / 100 for a, s, _ in stored} == expected
        for claim in claims:  # every claim row keeps the state right after it (what as_of reads)
            prefix = [c for c in claims if c.order_key <= claim.order_key]
            assert state_after_of(rows[claim.event_id]) == fold_place(prefix)
    for event_id in model.retracted:
        assert rows[event_id].retracted and rows[event_id].state_after is None
    for event_id, claim in model.claims.items():
        assert (rows[event_id].place_id, rows[event_id].share) == (claim.place_id, claim.share)


# How many stored claims past a batch's latest change to a place the projector reads with its
# context (control_store.TAIL_WINDOW, 16): narrowed, the examples' short histories go past it,
# and the rest of a place's claims is read as a long history's would be.
windows = st.sampled_from([1, 2, control_store.TAIL_WINDOW])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops_strategy, chunk=st.integers(1, 8), batch=st.integers(1, 6), window=windows)
def test_incremental_projection_equals_a_fresh_fold_and_the_algebra(
    fresh_pg_db: Database, ops: list[tuple[Any, ...]], chunk: int, batch: int, window: int
) -> None:
    with mock.patch.object(control_store, "TAIL_WINDOW", window):
        model, places = run_example(fresh_pg_db, ops, chunk, batch)
    check(fresh_pg_db, model, places)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops_strategy, chunk=st.integers(1, 8), batch=st.integers(1, 6), window=windows)
def test_the_same_holds_on_sqlite(
    fresh_sqlite_db: Database, ops: list[tuple[Any, ...]], chunk: int, batch: int, window: int
) -> None:
    with mock.patch.object(control_store, "TAIL_WINDOW", window):
        model, places = run_example(fresh_sqlite_db, ops, chunk, batch)
    check(fresh_sqlite_db, model, places)
