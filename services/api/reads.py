"""The read side's queries: each answers one endpoint from the read models, in one snapshot.

Lists are small (places are counted in thousands, not millions), so they are filtered, sorted and
paged in Python from one pass over the states; the answer is cached by read-model version anyway.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from services.api import paging, timetravel, views
from services.api.filters import PlaceFilters
from services.api.views import ActorName
from services.domain.actors import Actor
from services.domain.control import EMPTY, PlaceControl
from services.domain.names import name_key
from services.domain.places import Place
from services.store import event_log
from services.store import places as place_store
from services.store.backend import Backend, backend_of
from services.store.control_store import place_state_of
from services.store.places import to_place
from services.store.read_models import ReadModelTables
from services.store.schema import place_names, places


@dataclass(frozen=True)
class Bounds:
    """`as_of` / `known_at` as given (echoed in answers) and as exclusive instants."""

    as_of: str | None = None
    known_at: str | None = None
    as_of_end: datetime | None = None
    known_at_end: datetime | None = None


@dataclass(frozen=True)
class Context:
    conn: sa.Connection
    tables: ReadModelTables
    actor_name: ActorName
    bounds: Bounds
    position: int | None = None  # the read models' log position: names are read as of it


@dataclass
class NotYetRecorded(Exception):
    """The place exists, but had not been recorded by the read's `known_at` (404)."""

    place_id: str
    known_at: str
    recorded_at: datetime


def get_place(ctx: Context, place_id: str) -> dict[str, Any] | None:
    """One place's view; None when no such place is recorded, NotYetRecorded before it was."""
    row = ctx.conn.execute(sa.select(places).where(places.c.place_id == place_id)).first()
    if row is None:
        return None
    if not _known(row, ctx.bounds):
        raise NotYetRecorded(place_id, ctx.bounds.known_at or "", row.created_at)
    b = ctx.bounds
    state = timetravel.state(ctx.conn, ctx.tables, place_id, b.as_of_end, b.known_at_end)
    [(place, _)] = _named(ctx, [(to_place(row), state)])
    return views.place(place, state, ctx.actor_name, b.as_of, b.known_at)


def list_places(ctx: Context, filters: PlaceFilters, cursor: list[Any] | None, limit: int) -> dict[str, Any]:
    rows = _places_with_state(ctx, filters, _after(cursor), limit + 1)
    items = [_place_view(ctx, p, s) for p, s in rows[: limit + 1]]
    return paging.page(items, limit, lambda item: [item["place_id"]])


def contested(ctx: Context, cursor: list[Any] | None, limit: int) -> dict[str, Any]:
    b = ctx.bounds
    if b.as_of_end is None and b.known_at_end is None:
        rows = _contested_now(ctx, cursor, limit)
    else:
        rows = sorted(
            (r for r in _places_with_state(ctx, PlaceFilters(status="contested"))),
            key=lambda r: (-r[1].challenger_share, r[0].place_id),
        )
        if cursor is not None:
            rows = [r for r in rows if (-r[1].challenger_share, r[0].place_id) > (-cursor[0], cursor[1])]
    items = [_place_view(ctx, p, s) for p, s in rows[: limit + 1]]
    return paging.page(items, limit, contest_cursor)


def contested_views(ctx: Context) -> list[dict[str, Any]]:
    """Every place contested now, in no particular order (what services.api.contested learns)."""
    return [_place_view(ctx, p, s) for p, s in _contested_now(ctx, None, None)]


def contest_cursor(view: dict[str, Any]) -> list[Any]:
    """The cursor of a contested page ending at `view`."""
    return [_challenger_share(view), view["place_id"]]


def by_place_id(view: dict[str, Any]) -> str:
    """The order of place lists (and of their pages' cursors)."""
    return str(view["place_id"])


def by_contest(view: dict[str, Any]) -> tuple[int, str]:
    """The order of the contested list: most contested (largest second share) first."""
    return -_challenger_share(view), view["place_id"]


def _challenger_share(view: dict[str, Any]) -> int:
    return round(float(view["control"][1]["share"]) * 100)  # hundredths, as the read models hold it


def geojson(ctx: Context, filters: PlaceFilters, cursor: list[Any] | None, limit: int) -> dict[str, Any]:
    located = [r for r in _places_with_state(ctx, filters, _after(cursor)) if r[0].location is not None]
    answer = paging.page(
        [_place_view(ctx, p, s) for p, s in located[: limit + 1]], limit, lambda item: [item["place_id"]]
    )
    return {
        "type": "FeatureCollection",
        "features": [views.feature(item) for item in answer["items"]],
        "next_cursor": answer["next_cursor"],
    }


def list_actors(ctx: Context, actors: list[Actor], cursor: list[Any] | None, limit: int) -> dict[str, Any]:
    held = _holdings_by_actor(ctx)
    chosen = [a for a in actors if cursor is None or a.actor_id > cursor[0]]
    items = [_actor_view(ctx, a, held.get(a.actor_id, [])) for a in chosen[: limit + 1]]
    return paging.page(items, limit, lambda item: [item["actor_id"]])


def get_actor(ctx: Context, actor: Actor) -> dict[str, Any]:
    return _actor_view(ctx, actor, _holdings_by_actor(ctx).get(actor.actor_id, []))


def history(ctx: Context, place_id: str, cursor: list[Any] | None, limit: int) -> dict[str, Any]:
    c = ctx.tables.claims
    query = sa.select(c).where(c.c.place_id == place_id)
    if cursor is not None:
        after = (datetime.fromisoformat(cursor[0]), cursor[1])
        query = query.where(sa.tuple_(c.c.occurred_start, c.c.position) > sa.tuple_(*after))
    rows = ctx.conn.execute(query.order_by(c.c.occurred_start, c.c.position).limit(limit + 1)).all()
    items = [_history_item(ctx, r) for r in rows]
    starts = {r.event_id: r.occurred_start.isoformat() for r in rows}
    return paging.page(items, limit, lambda item: [starts[item["event_id"]], item["position"]])


def changes(
    ctx: Context, after: int, limit: int, filters: PlaceFilters | None = None, after_place: str | None = None
) -> dict[str, Any]:
    """Place states changed after log position `after` (or, resuming a page, after the change of
    `after_place` at that position: one event, a correction moving a claim, can change two
    places at one position), in log order, then place id order."""
    query = _changes_query(
        backend_of(ctx.conn), ctx.tables, filters or PlaceFilters(), after_place is not None
    )
    rows = ctx.conn.execute(query, {"after": after, "after_place": after_place, "limit": limit + 1}).all()
    named = _named(ctx, [(to_place(r), place_state_of(r)) for r in rows])
    items = [
        {**views.place(p, s, ctx.actor_name, None, None), "position": r.updated_position}
        for (p, s), r in zip(named, rows, strict=True)
    ]
    return paging.page(items, limit, lambda item: [item["position"], item["place_id"]])


@lru_cache(maxsize=256)
def _changes_query(
    backend: Backend, tables: ReadModelTables, filters: PlaceFilters, resuming: bool
) -> sa.Select[Any]:
    """The change feed's query for one kind of request; `after`, `after_place` and `limit` are bound
    when it runs. Built once: building it costs a tenth of a millisecond, and the read API's
    change-feed reader (services.api.stream) runs it every time the read models move."""
    ps, h = tables.place_state, tables.holdings
    place_id = backend.by_code_point(ps.c.place_id)
    later = ps.c.updated_position > sa.bindparam("after")
    if resuming:
        later = later | (
            (ps.c.updated_position == sa.bindparam("after")) & (place_id > sa.bindparam("after_place"))
        )
    query = (
        sa.select(ps, places)
        .join(places, places.c.place_id == ps.c.place_id)
        .where(later)
        .order_by(ps.c.updated_position, place_id)
        .limit(sa.bindparam("limit"))
    )
    query = _where_place(query, filters)
    if filters.status:
        query = query.where(ps.c.status == filters.status)
    if filters.actor:
        query = query.where(
            places.c.place_id.in_(sa.select(h.c.place_id).where(h.c.actor_id == filters.actor))
        )
    return query


def events(conn: sa.Connection, after: int, limit: int) -> dict[str, Any]:
    recorded = event_log.read_after(conn, after, limit + 1)
    items = [
        {
            "position": e.position,
            "event_id": e.event_id,
            "type": e.type,
            "stream_id": e.stream_id,
            "stream_version": e.stream_version,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at.isoformat(),
            "request_id": e.request_id,
            "target_event_id": e.target_event_id,
            "data": e.data,
        }
        for e in recorded
    ]
    return paging.page(items, limit, lambda item: [item["position"]])


def _known(row: Any, bounds: Bounds) -> bool:
    return bounds.known_at_end is None or row.created_at < bounds.known_at_end


def _named_like(q: str) -> sa.Select[tuple[str]]:
    """The ids of places a name or alias of which contains `q`'s key.

    A `q` with nothing to match on (`%`, `_`, `-`, an article alone) matches nothing rather than
    everything, and LIKE's wildcards are escaped in case a key ever holds one.
    """
    key = name_key(q)
    if not key:
        return sa.select(place_names.c.place_id).where(sa.false())
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.select(place_names.c.place_id).where(place_names.c.key.like(f"%{escaped}%", escape="\\"))


def _places_with_state(
    ctx: Context, filters: PlaceFilters, after: str | None = None, limit: int | None = None
) -> list[tuple[Place, PlaceControl]]:
    """Recorded places (as known then) with their state, filtered, in place id order, after the
    place id `after`; for the current state, only the first `limit` (a page is cut in SQL)."""
    place_id = _by_code_point(ctx.conn, places.c.place_id)
    query = sa.select(places).order_by(place_id)
    if after is not None:
        query = query.where(place_id > after)
    query = _where_place(query, filters)
    b = ctx.bounds
    if b.as_of_end is None and b.known_at_end is None:
        return _named(ctx, _places_now(ctx, query.limit(limit) if limit is not None else query, filters))
    rows = [r for r in ctx.conn.execute(query) if _known(r, ctx.bounds)]
    states = timetravel.states(ctx.conn, ctx.tables, b.as_of_end, b.known_at_end)
    result = []
    for row in rows:
        state = states.get(row.place_id, EMPTY)
        if filters.status and state.status != filters.status:
            continue
        if filters.actor and state.share_of(filters.actor) == 0:
            continue
        result.append((to_place(row), state))
    return _named(ctx, result)


def _where_place(query: sa.Select[Any], filters: PlaceFilters) -> sa.Select[Any]:
    """`query` (of `places`) narrowed by the filters on the place itself: country, place, name search."""
    if filters.country:
        query = query.where(places.c.country == filters.country.upper())
    if filters.place_ids is not None:
        query = query.where(places.c.place_id.in_(filters.place_ids))
    if filters.q:
        query = query.where(places.c.place_id.in_(_named_like(filters.q)))
    return query


def _named(ctx: Context, pairs: list[tuple[Place, PlaceControl]]) -> list[tuple[Place, PlaceControl]]:
    """The places under the names they had at the read's version and `known_at` (renames are
    events in the log, see services.ingest.place_names)."""
    ids = [p.place_id for p, _ in pairs] if len(pairs) <= 500 else None  # else all: one scan
    names = place_store.names_in_log(ctx.conn, ids, ctx.position, ctx.bounds.known_at_end)
    return [(place_store.named(p, names), s) for p, s in pairs] if names else pairs


def _places_now(
    ctx: Context, query: sa.Select[Any], filters: PlaceFilters
) -> list[tuple[Place, PlaceControl]]:
    """The current state: filtered in SQL on the read model's indexes, decoding only what is kept."""
    ps, h = ctx.tables.place_state, ctx.tables.holdings
    query = query.outerjoin(ps, ps.c.place_id == places.c.place_id).add_columns(
        *(c for c in ps.c if c.name != "place_id")
    )
    if filters.status == "unknown":
        query = query.where(sa.or_(ps.c.status.is_(None), ps.c.status == "unknown"))
    elif filters.status:
        query = query.where(ps.c.status == filters.status)
    if filters.actor:
        held = sa.select(h.c.place_id).where(h.c.actor_id == filters.actor)
        query = query.where(places.c.place_id.in_(held))
    return [(to_place(r), place_state_of(r) if r.status else EMPTY) for r in ctx.conn.execute(query)]


def _contested_now(
    ctx: Context, cursor: list[Any] | None, limit: int | None
) -> list[tuple[Place, PlaceControl]]:
    """One page of the current contested list (all of it when `limit` is None), ordered, cut and
    paged in SQL on the status index: a page must not decode every contested place to show a hundred."""
    ps = ctx.tables.place_state
    place_id = _by_code_point(ctx.conn, places.c.place_id)
    query = (
        sa.select(places, *(c for c in ps.c if c.name != "place_id"))
        .join(ps, ps.c.place_id == places.c.place_id)
        .where(ps.c.status == "contested")
        .order_by(ps.c.challenger_share.desc(), place_id)
        .limit(limit + 1 if limit is not None else None)
    )
    if cursor is not None:
        share, after = cursor
        query = query.where(
            sa.or_(
                ps.c.challenger_share < share,
                sa.and_(ps.c.challenger_share == share, place_id > after),
            )
        )
    return _named(ctx, [(to_place(r), place_state_of(r)) for r in ctx.conn.execute(query)])


def _after(cursor: list[Any] | None) -> str | None:
    """The place id a place-id cursor resumes after."""
    return str(cursor[0]) if cursor is not None else None


def _by_code_point(conn: sa.Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """`column` ordered and compared as Python compares strings (by code point), whatever the
    database's collation: pages cut in SQL and cursors checked in Python must agree (under en_US,
    PostgreSQL puts "albu-kamal-sy" before "al-qaim-iq"). SQLite compares bytes already."""
    return backend_of(conn).by_code_point(column)


def _place_view(ctx: Context, p: Place, state: PlaceControl) -> dict[str, Any]:
    return views.place(p, state, ctx.actor_name, ctx.bounds.as_of, ctx.bounds.known_at)


def _holdings_by_actor(ctx: Context) -> dict[str, list[dict[str, Any]]]:
    held: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p, state in _places_with_state(ctx, PlaceFilters()):
        for h in state.holdings:
            held[h.actor_id].append(views.holding(p, h.share, h.since.text))
    return held


def _actor_view(ctx: Context, actor: Actor, held: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "actor_id": actor.actor_id,
        "name": actor.name,
        "aliases": list(actor.aliases),
        "places": held,
        "places_held": len(held),
        "population_controlled": sum(h["population_controlled"] for h in held),
        "as_of": ctx.bounds.as_of,
        "known_at": ctx.bounds.known_at,
    }


def _history_item(ctx: Context, row: Any) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "position": row.position,
        "place_id": row.place_id,
        "actor_id": row.actor_id,
        "actor": ctx.actor_name(row.actor_id),
        "share": row.share / 100,
        "from_actor_id": row.from_actor_id,
        "occurred_at": row.occurred_at,
        "supporting_actor_ids": list(row.supporting_actor_ids or ()),
        "note": row.note,
        "report_id": row.report_id,
        "recorded_at": row.recorded_at.isoformat(),
        "retracted": row.retracted,
        "retraction": row.retraction,
        "corrections": list(row.corrections or ()),
    }
