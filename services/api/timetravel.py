"""Time travel: a place's control as it stood at a valid time (`as_of`), as it was known at a
transaction time (`known_at`), or both, answered from the read models with the domain's fold.

`as_of` alone is one index lookup: every claim row keeps the state right after it. `known_at`
re-folds the place from its claims as they stood then: recorded by then, with only the corrections
and retractions recorded by then (claim rows keep the fields before their first correction).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from services.domain.claims import Claim, apply_changes, typed_changes
from services.domain.control import EMPTY, PlaceControl, fold_place
from services.store.control_rows import ClaimRecord, state_after_of, state_columns
from services.store.control_store import claim_record_of, place_state_of
from services.store.read_models import ReadModelTables


def state(
    conn: sa.Connection,
    t: ReadModelTables,
    place_id: str,
    as_of: datetime | None,
    known_at: datetime | None,
) -> PlaceControl:
    """The control of one place; `as_of` and `known_at` are exclusive upper bounds (or None)."""
    if known_at is not None:
        return _fold_known(_records_of_place(conn, t, place_id), place_id, known_at, as_of)
    if as_of is not None:
        return _state_as_of(conn, t, place_id, as_of)
    row = conn.execute(sa.select(t.place_state).where(t.place_state.c.place_id == place_id)).first()
    return place_state_of(row) if row else EMPTY


def states(
    conn: sa.Connection, t: ReadModelTables, as_of: datetime | None, known_at: datetime | None
) -> dict[str, PlaceControl]:
    """The control of every place with a claim, at those bounds (or now)."""
    if known_at is not None:
        records = [
            claim_record_of(r)
            for r in conn.execute(_without_states(t).where(t.claims.c.recorded_at < known_at))
        ]
        by_place: dict[str, list[Claim]] = defaultdict(list)
        for record in records:
            claim = claim_known_at(record, known_at)
            if claim is not None and (as_of is None or claim.occurred.start < as_of):
                by_place[claim.place_id].append(claim)
        return {place: fold_place(claims) for place, claims in by_place.items()}
    if as_of is not None:
        return _states_as_of(conn, t, as_of)
    return {r.place_id: place_state_of(r) for r in conn.execute(sa.select(t.place_state))}


def claim_known_at(record: ClaimRecord, known_at: datetime) -> Claim | None:
    """The claim as it stood at transaction time `known_at`, or None if not recorded or retracted."""
    if record.recorded_at >= known_at:
        return None
    retraction = record.retraction
    if retraction is not None and datetime.fromisoformat(retraction["recorded_at"]) < known_at:
        return None
    if record.original is None:
        return record.claim  # never corrected: what it says now is what it said then
    claim = apply_changes(record.claim, typed_changes(record.original))
    for correction in record.corrections:
        if datetime.fromisoformat(correction["recorded_at"]) < known_at:
            claim = apply_changes(claim, typed_changes(correction["changes"]))
    return claim


def _fold_known(
    records: Iterable[ClaimRecord], place_id: str, known_at: datetime, as_of: datetime | None
) -> PlaceControl:
    claims = [c for r in records if (c := claim_known_at(r, known_at)) is not None]
    return fold_place(
        c for c in claims if c.place_id == place_id and (as_of is None or c.occurred.start < as_of)
    )


def _records_of_place(conn: sa.Connection, t: ReadModelTables, place_id: str) -> list[ClaimRecord]:
    """Every claim that is, or ever was, at the place (corrections move claims between places)."""
    c, cp = t.claims, t.claim_places
    # Two index lookups, not one OR (which PostgreSQL plans as a scan of every claim).
    here = {r.event_id: r for r in conn.execute(_without_states(t).where(c.c.place_id == place_id))}
    moved = sa.select(cp.c.event_id).where(cp.c.place_id == place_id)
    for row in conn.execute(_without_states(t).where(c.c.event_id.in_(moved))):
        here.setdefault(row.event_id, row)
    return [claim_record_of(r) for r in here.values()]


def _without_states(t: ReadModelTables) -> sa.Select[Any]:
    # A known_at answer re-folds the claims as they stood then, so the state stored after each
    # claim (as it stands now) is of no use: leaving it out halves the cost of reading them.
    return sa.select(*(col for col in t.claims.c if col.name != "state_after"))


def _state_as_of(conn: sa.Connection, t: ReadModelTables, place_id: str, as_of: datetime) -> PlaceControl:
    c = t.claims
    row = conn.execute(
        sa.select(*state_columns(c))
        .where(c.c.place_id == place_id, c.c.retracted.is_(False), c.c.occurred_start < as_of)
        .order_by(c.c.occurred_start.desc(), c.c.position.desc())
        .limit(1)
    ).first()
    return state_after_of(row) if row else EMPTY


def _states_as_of(conn: sa.Connection, t: ReadModelTables, as_of: datetime) -> dict[str, PlaceControl]:
    c = t.claims
    latest = (
        sa.select(
            c.c.place_id,
            *state_columns(c),
            sa.func.row_number()
            .over(partition_by=c.c.place_id, order_by=(c.c.occurred_start.desc(), c.c.position.desc()))
            .label("rank"),
        )
        .where(c.c.retracted.is_(False), c.c.occurred_start < as_of)
        .subquery()
    )
    rows = conn.execute(sa.select(latest).where(latest.c.rank == 1))
    return {r.place_id: state_after_of(r) for r in rows}
