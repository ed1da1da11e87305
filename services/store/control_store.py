"""Reading and writing the control read models (the live set, or one being rebuilt by a replay).

The statements are portable SQLAlchemy where PostgreSQL and SQLite agree; where they differ (COPY
for new rows, one statement for every place's re-fold context, one UPDATE for restated rows on
PostgreSQL; plain per-row equivalents on SQLite) the connection's backend spells them. The
contract tests run the projector on both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa

from services.domain.claims import Claim
from services.domain.control import PlaceControl
from services.domain.occurred import from_parts, parse_occurred
from services.store.backend import backend_of
from services.store.control_rows import (
    BatchChanges,
    ClaimRecord,
    Key,
    RefoldContext,
    StoredPlace,
    decode_holdings,
    decode_state_after,
    encode_holdings,
    encode_state_after,
    state_after_of,
)
from services.store.read_models import ReadModelTables

# How many of a place's stored claims after the last change a batch makes to it are read with the
# batch's context: the states after a late claim come back to the stored ones within a few claims
# (docs/performance-notes.md, Late claims), and the rest is read only if they do not.
TAIL_WINDOW = 16


class ControlReader:
    """The projector's Loader over one set of read-model tables, in the caller's transaction."""

    def __init__(self, conn: sa.Connection, tables: ReadModelTables) -> None:
        self.conn = conn
        self.t = tables
        self.backend = backend_of(conn)
        self.window = TAIL_WINDOW  # read when made: the property tests narrow it

    def place_states(self, place_ids: Collection[str]) -> dict[str, StoredPlace]:
        if not place_ids:
            return {}
        ps = self.t.place_state
        rows = self.conn.execute(sa.select(ps).where(self.backend.one_of(ps.c.place_id, sorted(place_ids))))
        return {r.place_id: StoredPlace(place_state_of(r), r.updated_position) for r in rows}

    def claims(self, event_ids: Collection[str]) -> dict[str, ClaimRecord]:
        if not event_ids:
            return {}
        c = self.t.claims
        rows = self.conn.execute(sa.select(c).where(self.backend.one_of(c.c.event_id, sorted(event_ids))))
        records = {r.event_id: claim_record_of(r) for r in rows}
        self._known_places(records.values())
        return records

    def refold_context(self, spans: dict[str, tuple[Key, Key]]) -> RefoldContext:
        context = RefoldContext()
        starts = {place: start for place, (start, _) in spans.items()}
        for r in self.backend.claims_before(self.conn, self.t.claims, starts):
            context.priors[r.place_id] = ((r.occurred_start, r.position), state_after_of(r))
        # One more than the window: whether a place has more is known without asking again.
        for row in self.backend.claims_from(self.conn, self.t.claims, spans, self.window + 1):
            record = claim_record_of(row)
            context.tails.setdefault(record.claim.place_id, []).append(record)
        for place, tail in context.tails.items():
            tail.sort(key=lambda r: r.claim.order_key)
            beyond = sum(1 for r in tail if r.claim.order_key > spans[place][1])
            if beyond > self.window:
                context.more.add(place)
                tail.pop()
        return context

    def claims_after(self, place_id: str, key: Key) -> list[ClaimRecord]:
        # Positions are whole numbers: the claims after (start, position) are those from
        # (start, position + 1) on, the span of that one key and all that follow it.
        after = (key[0], key[1] + 1)
        rows = self.backend.claims_from(self.conn, self.t.claims, {place_id: (after, after)}, None)
        return sorted((claim_record_of(r) for r in rows), key=lambda r: r.claim.order_key)

    def _known_places(self, records: Iterable[ClaimRecord]) -> None:
        # A corrected claim remembers every place it has belonged to (for `known_at`).
        corrected = {r.claim.event_id: r for r in records if r.original is not None}
        if not corrected:
            return
        cp = self.t.claim_places
        rows = self.conn.execute(sa.select(cp).where(self.backend.one_of(cp.c.event_id, sorted(corrected))))
        for row in rows:
            corrected[row.event_id].places.add(row.place_id)


def place_state_of(row: Any) -> PlaceControl:
    last_key = (row.last_start, row.last_position) if row.last_position is not None else None
    return PlaceControl(
        holdings=decode_holdings(row.holdings),
        last_key=last_key,
        last_event_id=row.last_event_id,
        changed_at=parse_occurred(row.changed_at) if row.changed_at else None,
    )


def claim_record_of(row: Any) -> ClaimRecord:
    claim = Claim(
        event_id=row.event_id,
        position=row.position,
        place_id=row.place_id,
        actor_id=row.actor_id,
        share=row.share,
        occurred=from_parts(row.occurred_at, row.occurred_start),
        from_actor_id=row.from_actor_id,
        supporting_actor_ids=tuple(row.supporting_actor_ids or ()),
        note=row.note,
        report_id=row.report_id,
    )
    return ClaimRecord(
        claim=claim,
        recorded_at=row.recorded_at,
        original=row.original,
        corrections=list(row.corrections or ()),
        retraction=row.retraction,
        # A reader that does not need the stored state selects the row without it.
        state_after=decode_state_after(state, claim)
        if (state := getattr(row, "state_after", None))
        else None,
    )


def claim_values(record: ClaimRecord) -> tuple[Any, ...]:
    """The `rm_claims` row of a claim record, its values in the table's column order."""
    claim = record.claim
    return (
        claim.event_id, claim.position, claim.place_id, claim.actor_id, claim.share,
        claim.from_actor_id, claim.occurred.text, claim.occurred.start, list(claim.supporting_actor_ids),
        claim.note, claim.report_id, record.recorded_at, record.original, record.corrections,
        record.retraction, record.retracted,
        encode_state_after(record.state_after, claim) if record.state_after else None,
    )  # fmt: skip


def insert_claims(conn: sa.Connection, t: ReadModelTables, records: Iterable[ClaimRecord]) -> None:
    """Write the rows of a batch's new claims, in the caller's transaction. Made as COPY takes
    them: PostgreSQL stores each row while the next is made (or while the next place is folded,
    when the records come from `Batch.fold`), and a rebuild's million rows are never all in memory
    as values at once."""
    backend_of(conn).insert_rows(conn, t.claims, (claim_values(r) for r in records))


def write_changes(conn: sa.Connection, t: ReadModelTables, changes: BatchChanges) -> None:
    """Write the rest of a batch's rows once its new claims are written (`insert_claims`), in the
    caller's transaction (with the checkpoint that covers them)."""
    backend = backend_of(conn)
    _rewrite_claims(conn, t, changes.changed_claims)
    restated = [
        (r.claim.event_id, encode_state_after(r.state_after, r.claim) if r.state_after else None)
        for r in changes.restated
    ]
    backend.update_column(conn, t.claims.c.state_after, t.claims.c.event_id, restated)
    _record_claim_places(conn, t, changes.new_claims + changes.changed_claims)
    _write_places(conn, t, changes.places)


def _rewrite_claims(conn: sa.Connection, t: ReadModelTables, records: list[ClaimRecord]) -> None:
    if not records:
        return
    c, names = t.claims, [column.name for column in t.claims.columns]
    values: dict[str, Any] = {n: sa.bindparam(f"v_{n}") for n in names if n != "event_id"}
    stmt = c.update().where(c.c.event_id == sa.bindparam("v_event_id")).values(values)
    conn.execute(stmt, [{f"v_{n}": v for n, v in zip(names, claim_values(r), strict=True)} for r in records])


def _record_claim_places(conn: sa.Connection, t: ReadModelTables, records: list[ClaimRecord]) -> None:
    rows = [{"place_id": p, "event_id": r.claim.event_id} for r in records for p in sorted(r.places)]
    backend_of(conn).insert_ignoring_conflicts(conn, t.claim_places, rows)


def _write_places(conn: sa.Connection, t: ReadModelTables, places: dict[str, StoredPlace]) -> None:
    if not places:
        return
    backend, ids = backend_of(conn), sorted(places)
    for table in (t.place_state, t.holdings):
        conn.execute(table.delete().where(backend.one_of(table.c.place_id, ids)))
    backend.insert_rows(conn, t.place_state, [place_state_values(p, places[p]) for p in ids])
    holdings = [(p, h.actor_id, h.share, h.since.text) for p in ids for h in places[p].state.holdings]
    backend.insert_rows(conn, t.holdings, holdings)


def place_state_values(place_id: str, stored: StoredPlace) -> tuple[Any, ...]:
    """The `rm_place_state` row of a place, its values in the table's column order."""
    state = stored.state
    last_start, last_position = state.last_key or (None, None)
    return (
        place_id, state.status, encode_holdings(state), state.challenger_share,
        state.changed_at.text if state.changed_at else None, state.last_event_id, last_start,
        last_position, stored.updated_position,
    )  # fmt: skip
