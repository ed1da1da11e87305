"""Reading and writing the control read models (the live set, or one being rebuilt by a replay).

PostgreSQL gets set-based statements (COPY for new claim rows, one statement for every place's
re-fold context, one UPDATE for restated rows); SQLite, the embedded default, gets plain per-row
equivalents. The contract tests run the projector on both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

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
    decode_state,
    encode_holdings,
    encode_state,
)
from services.store.read_models import ReadModelTables

CLAIM_COLUMNS = (
    "event_id", "position", "place_id", "actor_id", "share", "from_actor_id", "occurred_at",
    "occurred_start", "supporting_actor_ids", "note", "report_id", "recorded_at", "original",
    "corrections", "retraction", "retracted", "state_after",
)  # fmt: skip
PLACE_COLUMNS = (
    "place_id", "status", "holdings", "challenger_share", "changed_at", "last_event_id", "last_start",
    "last_position", "events_folded", "updated_position",
)  # fmt: skip
HOLDING_COLUMNS = ("place_id", "actor_id", "share", "since")
JSON_COLUMNS = {"supporting_actor_ids", "original", "corrections", "retraction", "state_after", "holdings"}


class ControlReader:
    """The projector's Loader over one set of read-model tables, in the caller's transaction."""

    def __init__(self, conn: sa.Connection, tables: ReadModelTables) -> None:
        self.conn = conn
        self.t = tables

    def place_states(self, place_ids: Collection[str]) -> dict[str, StoredPlace]:
        if not place_ids:
            return {}
        ps = self.t.place_state
        wanted = sorted(place_ids)
        where = (
            ps.c.place_id == sa.any_(sa.bindparam("ids", wanted, type_=ARRAY(sa.String())))
            if self.conn.dialect.name == "postgresql"
            else ps.c.place_id.in_(wanted)
        )
        rows = self.conn.execute(sa.select(ps).where(where))
        return {r.place_id: StoredPlace(place_state_of(r), r.updated_position) for r in rows}

    def claims(self, event_ids: Collection[str]) -> dict[str, ClaimRecord]:
        if not event_ids:
            return {}
        c = self.t.claims
        rows = self.conn.execute(sa.select(c).where(c.c.event_id.in_(sorted(event_ids))))
        records = {r.event_id: claim_record_of(r) for r in rows}
        self._known_places(records.values())
        return records

    def refold_context(self, bounds: dict[str, Key]) -> RefoldContext:
        if self.conn.dialect.name == "postgresql":
            return self._refold_context_pg(bounds)
        context = RefoldContext()
        c = self.t.claims
        for place, (start, position) in bounds.items():
            in_place = sa.and_(c.c.place_id == place, c.c.retracted.is_(False))
            before = sa.tuple_(c.c.occurred_start, c.c.position) < sa.tuple_(start, position)
            prior = self.conn.execute(
                sa.select(c.c.occurred_start, c.c.position, c.c.state_after)
                .where(in_place, before)
                .order_by(c.c.occurred_start.desc(), c.c.position.desc())
                .limit(1)
            ).first()
            if prior is not None:
                context.priors[place] = (
                    (prior.occurred_start, prior.position),
                    decode_state(prior.state_after),
                )
            tail = self.conn.execute(sa.select(c).where(in_place, sa.not_(before)))
            context.tails[place] = [claim_record_of(r) for r in tail]
        return context

    def _refold_context_pg(self, bounds: dict[str, Key]) -> RefoldContext:
        places = list(bounds)
        params = {
            "places": places,
            "starts": [bounds[p][0] for p in places],
            "positions": [bounds[p][1] for p in places],
        }
        claims = self.t.claims.name
        unnest = (
            "unnest(CAST(:places AS text[]), CAST(:starts AS timestamptz[]), CAST(:positions AS bigint[]))"
            " AS b(place_id, s, pos)"
        )
        priors = self.conn.execute(
            sa.text(
                f"SELECT b.place_id, c.occurred_start, c.position, c.state_after FROM {unnest} "  # noqa: S608
                f"JOIN LATERAL (SELECT occurred_start, position, state_after FROM {claims} c "
                "WHERE c.place_id = b.place_id AND NOT c.retracted "
                "AND (c.occurred_start, c.position) < (b.s, b.pos) "
                "ORDER BY c.occurred_start DESC, c.position DESC LIMIT 1) c ON true"
            ).columns(
                sa.column("place_id"),
                self.t.claims.c.occurred_start,
                self.t.claims.c.position,
                self.t.claims.c.state_after,
            ),
            params,
        )
        context = RefoldContext()
        for r in priors:
            context.priors[r.place_id] = ((r.occurred_start, r.position), decode_state(r.state_after))
        tails = self.conn.execute(
            sa.text(
                f"SELECT c.* FROM {unnest} JOIN {claims} c ON c.place_id = b.place_id "  # noqa: S608
                "AND (c.occurred_start, c.position) >= (b.s, b.pos) WHERE NOT c.retracted"
            ).columns(*self.t.claims.c),
            params,
        )
        grouped: dict[str, list[ClaimRecord]] = defaultdict(list)
        for row in tails:
            record = claim_record_of(row)
            grouped[record.claim.place_id].append(record)
        context.tails = dict(grouped)
        return context

    def _known_places(self, records: Iterable[ClaimRecord]) -> None:
        # A corrected claim remembers every place it has belonged to (for `known_at`).
        corrected = {r.claim.event_id: r for r in records if r.original is not None}
        if not corrected:
            return
        cp = self.t.claim_places
        rows = self.conn.execute(sa.select(cp).where(cp.c.event_id.in_(sorted(corrected))))
        for row in rows:
            corrected[row.event_id].places.add(row.place_id)


def place_state_of(row: Any) -> PlaceControl:
    last_key = (row.last_start, row.last_position) if row.last_position is not None else None
    return PlaceControl(
        holdings=decode_holdings(row.holdings),
        last_key=last_key,
        last_event_id=row.last_event_id,
        changed_at=parse_occurred(row.changed_at) if row.changed_at else None,
        events_folded=row.events_folded,
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
        state_after=decode_state(state) if (state := getattr(row, "state_after", None)) else None,
    )


def claim_row(record: ClaimRecord) -> dict[str, Any]:
    claim = record.claim
    return {
        "event_id": claim.event_id,
        "position": claim.position,
        "place_id": claim.place_id,
        "actor_id": claim.actor_id,
        "share": claim.share,
        "from_actor_id": claim.from_actor_id,
        "occurred_at": claim.occurred.text,
        "occurred_start": claim.occurred.start,
        "supporting_actor_ids": list(claim.supporting_actor_ids),
        "note": claim.note,
        "report_id": claim.report_id,
        "recorded_at": record.recorded_at,
        "original": record.original,
        "corrections": record.corrections,
        "retraction": record.retraction,
        "retracted": record.retracted,
        "state_after": encode_state(record.state_after) if record.state_after else None,
    }


def write_batch(conn: sa.Connection, t: ReadModelTables, changes: BatchChanges) -> None:
    """Write one batch's rows, in the caller's transaction (with the checkpoint that covers them)."""
    _insert_claims(conn, t, [claim_row(r) for r in changes.new_claims])
    _rewrite_claims(conn, t, changes.changed_claims)
    _restate_claims(conn, t, changes.restated)
    _record_claim_places(conn, t, changes.new_claims + changes.changed_claims)
    _write_places(conn, t, changes.places)


def _insert_claims(conn: sa.Connection, t: ReadModelTables, rows: list[dict[str, Any]]) -> None:
    _insert(conn, t.claims, CLAIM_COLUMNS, rows)


def _insert(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Insert new rows: COPY on PostgreSQL (several times faster than INSERT for the thousands of
    rows a catch-up batch brings), executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_copy_value(name, row[name]) for name in columns])


def _copy_value(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS and value is not None:
        return orjson.dumps(value).decode()
    return value


def _delete_places(conn: sa.Connection, table: sa.Table, ids: list[str]) -> None:
    if conn.dialect.name == "postgresql":  # one constant statement, not one bind per id
        conn.execute(sa.text(f"DELETE FROM {table.name} WHERE place_id = ANY(:ids)"), {"ids": ids})  # noqa: S608
    else:
        conn.execute(table.delete().where(table.c.place_id.in_(ids)))


def _rewrite_claims(conn: sa.Connection, t: ReadModelTables, records: list[ClaimRecord]) -> None:
    if not records:
        return
    c = t.claims
    values: dict[str, Any] = {n: sa.bindparam(f"v_{n}") for n in CLAIM_COLUMNS if n != "event_id"}
    stmt = c.update().where(c.c.event_id == sa.bindparam("v_event_id")).values(values)
    conn.execute(stmt, [{f"v_{k}": v for k, v in claim_row(r).items()} for r in records])


def _restate_claims(conn: sa.Connection, t: ReadModelTables, records: list[ClaimRecord]) -> None:
    if not records:
        return
    states = [encode_state(r.state_after) if r.state_after else None for r in records]
    ids = [r.claim.event_id for r in records]
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                f"UPDATE {t.claims.name} c SET state_after = v.state "  # noqa: S608
                "FROM unnest(CAST(:ids AS text[]), CAST(:states AS jsonb[])) AS v(id, state) "
                "WHERE c.event_id = v.id"
            ),
            {"ids": ids, "states": [orjson.dumps(s).decode() if s else None for s in states]},
        )
        return
    c = t.claims
    stmt = c.update().where(c.c.event_id == sa.bindparam("v_id")).values(state_after=sa.bindparam("v_state"))
    conn.execute(stmt, [{"v_id": i, "v_state": s} for i, s in zip(ids, states, strict=True)])


def _record_claim_places(conn: sa.Connection, t: ReadModelTables, records: list[ClaimRecord]) -> None:
    rows = [{"place_id": p, "event_id": r.claim.event_id} for r in records for p in sorted(r.places)]
    backend_of(conn).insert_ignoring_conflicts(conn, t.claim_places, rows)


def _write_places(conn: sa.Connection, t: ReadModelTables, places: dict[str, StoredPlace]) -> None:
    if not places:
        return
    ids = sorted(places)
    _delete_places(conn, t.place_state, ids)
    _delete_places(conn, t.holdings, ids)
    _insert(conn, t.place_state, PLACE_COLUMNS, [place_state_row(p, places[p]) for p in ids])
    holdings = [
        {"place_id": p, "actor_id": x.actor_id, "share": x.share, "since": x.since.text}
        for p in ids
        for x in places[p].state.holdings
    ]
    _insert(conn, t.holdings, HOLDING_COLUMNS, holdings)


def place_state_row(place_id: str, stored: StoredPlace) -> dict[str, Any]:
    state = stored.state
    return {
        "place_id": place_id,
        "status": state.status,
        "holdings": encode_holdings(state),
        "challenger_share": state.challenger_share,
        "changed_at": state.changed_at.text if state.changed_at else None,
        "last_event_id": state.last_event_id,
        "last_start": state.last_key[0] if state.last_key else None,
        "last_position": state.last_key[1] if state.last_key else None,
        "events_folded": state.events_folded,
        "updated_position": stored.updated_position,
    }
