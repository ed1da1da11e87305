"""The read API: every route answers from one snapshot of the read models, cached by version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from services.api import paging, reads, schemas
from services.api.cache import Dependency, Entry, Listing, ReadCache, Renewal, matches, request_key
from services.api.context import ReadSide
from services.api.fastpath import CachedReads
from services.api.filters import Names, PlaceFilters, UnknownFilter, country_code
from services.api.filters import resolve as resolve_filters
from services.api.position import Version, read_version
from services.api.reads import Bounds, Context, NotYetRecorded
from services.api.stream import events as stream_events
from services.api.stream import place_filter
from services.domain.errors import InvalidTime, Unresolved
from services.domain.occurred import upper_bound
from services.store.read_models import tables
from services.web.auth import require
from services.web.context import ServiceApp, context_of
from services.web.deps import ContextDep
from services.web.problems import problem, problem_responses
from services.web.runtime import Runtime

MIN_POSITION_WAIT = 5.0
MEMORY_WAIT = 0.1  # seconds a computation waits for the change feed's reader to catch up
LIVE_TABLES = [t.name for t in tables().all]
GEOJSON = "application/geo+json"

router = APIRouter(
    prefix="/v1",
    tags=["read"],
    dependencies=[Depends(require("read"))],
    responses={
        304: {"description": "Not Modified: the If-None-Match ETag is current"},
        **problem_responses(400, 401, 422, 503),
    },
)

Limit = Annotated[int, Query(ge=1, le=paging.MAX_LIMIT, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")]
MinPosition = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Wait (up to 5 s) until the read models reach this log position"),
]
StatusFilter = Annotated[Literal["controlled", "contested", "partial", "unknown"] | None, Query()]
CountryFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="ISO 3166-1 alpha-2 code, or the country's name"),
]
TextFilter = Annotated[str | None, Query(min_length=1, max_length=200)]
ActorFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=200, description="An actor holding a share: its id, name or alias"),
]
PlaceFilter = Annotated[
    str | None, Query(min_length=1, max_length=200, description="A place: its id, name or alias")
]
TimeParam = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=r"^\d{4}(-\d{2}(-\d{2}([T ].+)?)?)?$",
        description="ISO 8601 year, month, date or timestamp; a period means its end, inclusive",
    ),
]


async def bounds(as_of: TimeParam = None, known_at: TimeParam = None) -> Bounds:  # async: no thread hop
    """`as_of` (valid time) and `known_at` (transaction time) as exclusive upper bounds."""
    ends = {}
    for name, value in (("as_of", as_of), ("known_at", known_at)):
        try:
            ends[name] = upper_bound(value) if value is not None else None
        except InvalidTime as exc:
            raise RequestValidationError(
                [{"loc": ("query", name), "msg": str(exc), "type": "value_error"}]
            ) from None
    return Bounds(as_of, known_at, ends["as_of"], ends["known_at"])


BoundsDep = Annotated[Bounds, Depends(bounds)]


async def place_filters(
    status: StatusFilter = None,
    country: CountryFilter = None,
    actor: ActorFilter = None,
    q: TextFilter = None,
    place: PlaceFilter = None,
) -> PlaceFilters:
    """Filters of the place lists: status, country, an actor holding a share, a name search, a
    place. Names resolve as in claims (`actor=SAA`, `country=Syria`), inside the read."""
    return PlaceFilters(status, country, actor, q, place)


FiltersDep = Annotated[PlaceFilters, Depends(place_filters)]


async def answer(
    request: Request,
    compute: Callable[[Context], dict[str, Any] | None],
    bound: Bounds = Bounds(),  # noqa: B008
    min_position: int | None = None,
    media_type: str = "application/json",
    missing: str | None = None,
    depends: Callable[[dict[str, Any]], Dependency] = lambda _: None,
    memory: Memory | None = None,
) -> Response:
    """Serve `compute`'s answer from cache while it is fresh, else compute it (once for all the
    requests that miss it together). `depends` says what the answer depends on (see
    services.api.cache); by default, anything. `missing`: the 404's detail when there is none.
    `memory`: where the answer may be found without a query."""
    context = context_of(request.app)
    side = context.get(ReadSide)
    watch = side.watch
    if min_position is not None and not await watch.wait_for(min_position, MIN_POSITION_WAIT):
        return _not_reached(min_position, watch.version.position)
    _reject_blank_numbers(request)
    key = request_key(request.url.path, request.url.query, _declared(request.scope["route"]))
    how = Filling(bound, media_type, depends, memory, min_position or 0)
    fill = _filler(context.runtime, side, key, compute, how)
    entry, position = await _newest(side.cache, key, fill, min_position or 0)
    if entry is None:
        detail = missing or f"nothing at {request.url.path}"
        return problem(
            404, "not-found", detail, headers={"X-Projection-Position": str(watch.version.position)}
        )
    form = entry.form(_field(request, "accept-encoding"))
    if matches(_field(request, "if-none-match"), form.etag):
        return Response(status_code=304, headers=_text(form.headers(position)))
    return Response(form.body, headers=_text(form.headers(position) + form.content_headers(entry.media_type)))


def _field(request: Request, name: str) -> str | None:
    """A list-valued field's lines as one value (RFC 9110 5.3), as the cache's fast path reads it."""
    return ", ".join(request.headers.getlist(name)) or None


def _text(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


async def _newest(
    cache: ReadCache, key: str, fill: Callable[[], Awaitable[Entry | None]], at_least: int
) -> tuple[Entry | None, int]:
    """The answer to `key` and the position it is true at: never before `at_least`, nor before any
    answer this process has given (ReadCache.lookup holds a fresh entry to that too).

    A computation that joined a flight begun before a newer answer went out (a dashboard asking
    /v1/contested and /v1/places/{id} at once while the projector commits) is computed once more,
    so that whichever endpoints a client asks in turn, it never sees state go back.
    """
    entry, position = cache.lookup(key)
    for _ in range(3):
        if entry is not None and position is not None and position >= max(at_least, cache.answered):
            break
        entry = await cache.single_flight(key, fill)
        if entry is None:
            return None, 0
        position = entry.version.position
    return entry, position or 0


@dataclass(frozen=True)
class Memory:
    """An answer kept in memory (see services.api.contested). `answer(least)`: it, at a version
    that reaches `least`, or None; `learn(ctx, version)`: fill the memory from a snapshot, when a
    computation in SQL finds it empty; `ready()`: whether it is filled (then the change feed
    brings it up to date)."""

    answer: Callable[[Version], tuple[Version, dict[str, Any]] | None]
    learn: Callable[[Context, Version], None]
    ready: Callable[[], bool]


@dataclass(frozen=True)
class Filling:
    """How an answer is made: at which times, as what media type, depending on what, from what
    memory, no older than which position."""

    bound: Bounds
    media_type: str
    depends: Callable[[dict[str, Any]], Dependency]
    memory: Memory | None = None
    at_least: int = 0


def _filler(
    runtime: Runtime,
    side: ReadSide,
    key: str,
    compute: Callable[[Context], dict[str, Any] | None],
    how: Filling,
) -> Callable[[], Awaitable[Entry | None]]:
    """The computation of one answer, in the thread pool, from one snapshot, into the cache."""

    def fill() -> Entry | None:
        remembered = _remembered(side.cache, how)
        current, body = remembered if remembered is not None else _computed(runtime, side, compute, how)
        if body is None:
            return None
        renewal = Renewal(how.memory.answer, how.depends) if how.memory is not None else None
        return side.cache.put(key, current, how.depends(body), orjson.dumps(body), how.media_type, renewal)

    async def fill_async() -> Entry | None:
        return await run_in_threadpool(fill)

    return fill_async


def _remembered(cache: ReadCache, how: Filling) -> tuple[Version, dict[str, Any]] | None:
    """The answer from memory, if it is there at least as new as any answer this process has given
    and as the read's min_position. A memory a little behind (the change feed's reader has not
    noted what a query elsewhere has already answered from) is waited for, briefly: that is a
    query saved for every read in between."""
    memory = how.memory
    if memory is None:
        return None
    found = memory.answer(_least(cache, how))
    if found is None and memory.ready() and cache.wait_noted(_least(cache, how), MEMORY_WAIT):
        found = memory.answer(_least(cache, how))
    return found


def _least(cache: ReadCache, how: Filling) -> Version:
    """The oldest version an answer may be at: the newest this process has given, at the read's
    min_position or later."""
    return max(cache.given, Version(cache.given.generation, how.at_least))


def _computed(
    runtime: Runtime, side: ReadSide, compute: Callable[[Context], dict[str, Any] | None], how: Filling
) -> tuple[Version, dict[str, Any] | None]:
    """`compute`'s answer from one snapshot of the read models, and their version."""
    with runtime.read_db.snapshot(lock=LIVE_TABLES) as conn:
        current = read_version(conn)
        ctx = Context(conn, tables(), lambda a: runtime.actors.name_of(conn, a), how.bound, current.position)
        if how.memory is not None:
            how.memory.learn(ctx, current)
        body = compute(ctx)
    side.watch.advance(current)
    return current, body


def _not_reached(min_position: int, position: int) -> Response:
    detail = f"the read models have not reached position {min_position} yet"
    headers = {"Retry-After": "1", "X-Projection-Position": str(position)}
    return problem(503, "position-not-reached", detail, headers=headers)


def _one(place_id: str) -> Callable[[dict[str, Any]], Dependency]:
    """An answer about one place, at any time: only a change to that place alters it."""
    return lambda _: frozenset([place_id])


def _listing(
    filters: PlaceFilters,
    bound: Bounds,
    views: Callable[[dict[str, Any]], list[dict[str, Any]]],
    order: Callable[[dict[str, Any]], Any] = reads.by_place_id,
) -> Callable[[dict[str, Any]], Dependency]:
    """A page of current states (`views` of the answer, in the list's `order`): altered by a change
    to a place it shows, or by a place changing into a state its filters admit and sorting before
    the end of the page (tested without `actor` and `place`, which a read resolves in its own
    snapshot: the page then goes stale on more changes than it must, never on fewer). A name
    search or a time-travel list: by any change."""
    if filters.q is not None or bound.as_of is not None or bound.known_at is not None:
        return lambda _: None
    try:
        country = country_code(filters.country) if filters.country else None
    except UnknownFilter:
        return lambda _: None  # the read answers 422; nothing is cached
    admits = place_filter(PlaceFilters(status=filters.status, country=country))
    return lambda body: _page(views(body), body["next_cursor"] is not None, admits, order)


def _page(
    shown: list[dict[str, Any]],
    full: bool,
    admits: Callable[[dict[str, Any]], bool],
    order: Callable[[dict[str, Any]], Any],
) -> Listing:
    """A page's Listing; a place joining the list after the last place of a full page joins a later
    page (pages are cut by the sort key of their last place, see `paging`), not this one."""
    members = frozenset(view["place_id"] for view in shown)
    if not (full and shown):
        return Listing(members, admits)
    end = order(shown[-1])
    return Listing(members, admits, beyond=lambda place: order(place) > end)


_DECLARED: dict[Callable[..., Any], frozenset[str]] = {}


def _declared(route: APIRoute) -> frozenset[str]:
    """The query parameters the route reads: others cannot change the answer, so they do not
    make a new cache entry (an unknown parameter must not force a recomputation). Remembered by
    handler: its parameters are the same in every app that includes it."""
    names = _DECLARED.get(route.endpoint)
    if names is None:
        names = _DECLARED[route.endpoint] = frozenset(_query_params(route.dependant))
    return names


def _holding(actor_id: str, bound: Bounds) -> Callable[[dict[str, Any]], Dependency]:
    """An actor's places now: altered by a change to one of them, or by the actor taking a share
    of another. At another time: by any change."""
    if bound.as_of is not None or bound.known_at is not None:
        return lambda _: None
    admits = place_filter(PlaceFilters(actor=actor_id))
    return lambda body: Listing(frozenset(p["place_id"] for p in body["places"]), admits)


def _reject_blank_numbers(request: Request) -> None:
    """`?min_position=` is not a number: FastAPI would read it as absent; say it is invalid."""
    for name in ("min_position", "after", "limit"):
        if request.query_params.get(name, None) == "":
            error = {"loc": ("query", name), "msg": "Input should be a valid integer", "type": "int_parsing"}
            raise RequestValidationError([error])


def _query_params(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_params(sub)
    return names


def _is_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _resolved(request: Request, ctx: Context, filters: PlaceFilters) -> PlaceFilters:
    runtime = context_of(request.app).runtime
    return resolve_filters(ctx.conn, filters, _names(runtime))


def _no_place(place_id: str) -> str:
    return f"no place {place_id!r} is recorded; GET /v1/places lists them"


@router.get("/places", responses={200: {"model": schemas.PlacePage}})
async def list_places(
    request: Request,
    bound: BoundsDep,
    filters: FiltersDep,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    """The recorded places (registered, or named by a claim) with their control."""
    after = paging.decode(cursor, (str,))
    return await answer(
        request,
        lambda ctx: reads.list_places(ctx, _resolved(request, ctx, filters), after, limit),
        bound,
        min_position,
        depends=_listing(filters, bound, lambda body: body["items"]),
    )


class GeoJSONResponse(JSONResponse):
    """Declares the GeoJSON media type in OpenAPI (the route answers with cached bytes itself)."""

    media_type = GEOJSON


@router.get(
    "/places.geojson",
    response_class=GeoJSONResponse,
    responses={200: {"model": schemas.FeatureCollectionOut}},
)
async def places_geojson(
    request: Request,
    bound: BoundsDep,
    filters: FiltersDep,
    limit: Limit = paging.MAX_LIMIT,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    """The places with a location as a GeoJSON FeatureCollection (RFC 7946)."""
    after = paging.decode(cursor, (str,))
    return await answer(
        request,
        lambda ctx: reads.geojson(ctx, _resolved(request, ctx, filters), after, limit),
        bound,
        min_position,
        GEOJSON,
        depends=_listing(filters, bound, lambda body: [f["properties"] for f in body["features"]]),
    )


@router.get("/places/{place_id}", responses={200: {"model": schemas.PlaceStateOut}, **problem_responses(404)})
async def get_place(
    request: Request, place_id: str, bound: BoundsDep, min_position: MinPosition = None
) -> Response:
    """One place: who controls it, since when, on whose reports."""
    return await answer(
        request,
        lambda ctx: reads.get_place(ctx, place_id),
        bound,
        min_position,
        missing=_no_place(place_id),
        depends=_one(place_id),
    )


@router.get(
    "/places/{place_id}/history", responses={200: {"model": schemas.HistoryPage}, **problem_responses(404)}
)
async def place_history(
    request: Request,
    place_id: str,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    """The place's claim events, oldest first, with their corrections and retractions."""
    after = paging.decode(cursor, (str, int))
    if after is not None and not _is_instant(after[0]):
        raise HTTPException(400, "the cursor is not one this API returned")

    def compute(ctx: Context) -> dict[str, Any] | None:
        if reads.get_place(ctx, place_id) is None:
            return None
        return reads.history(ctx, place_id, after, limit)

    return await answer(
        request, compute, Bounds(), min_position, missing=_no_place(place_id), depends=_one(place_id)
    )


@router.get("/contested", responses={200: {"model": schemas.PlacePage}})
async def contested(
    request: Request,
    bound: BoundsDep,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    """Contested places, most contested (largest second share) first."""
    after = paging.decode(cursor, (int, str))
    depends = _listing(PlaceFilters(status="contested"), bound, lambda body: body["items"], reads.by_contest)
    memory = _contested_memory(request, after, limit) if bound == Bounds() else None
    return await answer(
        request,
        lambda ctx: reads.contested(ctx, after, limit),
        bound,
        min_position,
        depends=depends,
        memory=memory,
    )


def _contested_memory(request: Request, after: list[Any] | None, limit: int) -> Memory:
    """The current contested list in memory: a page is a select, not a query (services.api.contested)."""
    cache = context_of(request.app).get(ReadSide).cache

    def answer(least: Version) -> tuple[Version, dict[str, Any]] | None:
        known = cache.contested.at_least(least)
        return (known.version, known.page(after, limit)) if known is not None else None

    def learn(ctx: Context, version: Version) -> None:
        if cache.contested.known is None:
            cache.learn_contested(version, reads.contested_views(ctx))

    return Memory(answer, learn, lambda: cache.contested.known is not None)


@router.get("/actors", responses={200: {"model": schemas.ActorPage}})
async def list_actors(
    request: Request,
    context: ContextDep,
    bound: BoundsDep,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    """Actors with the places each holds and the population under its control."""
    after = paging.decode(cursor, (str,))
    runtime = context.runtime

    def compute(ctx: Context) -> dict[str, Any]:
        return reads.list_actors(ctx, runtime.actors.index(ctx.conn, reload=True).actors, after, limit)

    return await answer(request, compute, bound, min_position)


@router.get("/actors/{actor_id}", responses={200: {"model": schemas.ActorOut}, **problem_responses(404)})
async def get_actor(
    request: Request, context: ContextDep, actor_id: str, bound: BoundsDep, min_position: MinPosition = None
) -> Response:
    """One actor: the places it holds (fully or in part) and the population under its control."""
    runtime = context.runtime

    def compute(ctx: Context) -> dict[str, Any] | None:
        try:
            actor = runtime.actors.resolve(ctx.conn, actor_id)
        except Unresolved:
            return None
        return reads.get_actor(ctx, actor) if actor.actor_id == actor_id else None

    missing = f"no actor {actor_id!r}; GET /v1/actors lists them"
    return await answer(
        request, compute, bound, min_position, missing=missing, depends=_holding(actor_id, bound)
    )


@router.get("/changes", responses={200: {"model": schemas.ChangesPage}})
async def changes(
    request: Request,
    filters: FiltersDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="A log position")] = 0,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    """Place states changed after a log position, oldest change first: poll with the last one."""
    key = paging.decode(cursor, (int, str))
    start, after_place = (int(key[0]), str(key[1])) if key else (after, None)
    return await answer(
        request,
        lambda ctx: reads.changes(ctx, start, limit, _resolved(request, ctx, filters), after_place),
        Bounds(),
        min_position,
    )


@router.get("/events", responses={200: {"model": schemas.EventPage}})
async def events(
    request: Request,
    context: ContextDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="A log position")] = 0,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The raw event log after a position, for audit (read-only, never cached: it moves alone)."""
    _reject_blank_numbers(request)
    key = paging.decode(cursor, (int,))
    start = int(key[0]) if key else after

    def read() -> bytes:
        with context.runtime.read_db.snapshot() as conn:
            return orjson.dumps(reads.events(conn, start, limit))

    body = await run_in_threadpool(read)
    position = context.get(ReadSide).watch.version.position
    return Response(body, media_type="application/json", headers={"X-Projection-Position": str(position)})


class EventStream(Response):
    """Declares the Server-Sent Events media type in OpenAPI (the route streams itself)."""

    media_type = "text/event-stream"


LastEventId = Annotated[
    str | None, Header(max_length=40, description="The `id:` of the last event received (resumes after it)")
]


@router.get(
    "/stream",
    response_class=EventStream,
    responses={200: {"description": "`place` events (id: log position; data: the place), `replay` events"}},
)
async def stream(
    context: ContextDep,
    filters: FiltersDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Resume after this log position")] = None,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Server-Sent Events: one `place` event per changed place state, with the filters of
    `/v1/places` (applied to each new state; `q` is not one); resume with `Last-Event-ID` (or
    `after`), and a `replay` event when a replay swaps the read models in. Without either, it
    starts at the read models' current position."""
    runtime = context.runtime
    if filters.q is not None:
        error = {
            "loc": ("query", "q"),
            "msg": "a name search is not a filter of the stream",
            "type": "value_error",
        }
        raise RequestValidationError([error])
    resume = _resume_position(last_event_id, after)
    resolved = await run_in_threadpool(_resolved_now, runtime, filters)
    content = stream_events(context.get(ReadSide).broadcast, resume, place_filter(resolved))
    return EventSourceResponse(content, ping=runtime.settings.stream_heartbeat)


def _resume_position(last_event_id: str | None, after: int | None) -> int | None:
    """`Last-Event-ID` (sent by a reconnecting EventSource) wins over `after`."""
    if last_event_id is None or last_event_id == "":
        return after
    if not last_event_id.isascii() or not last_event_id.isdigit():
        error = {"loc": ("header", "last-event-id"), "msg": "must be a log position", "type": "int_parsing"}
        raise RequestValidationError([error])
    return int(last_event_id)


def _resolved_now(runtime: Runtime, filters: PlaceFilters) -> PlaceFilters:
    with runtime.read_db.snapshot() as conn:
        return resolve_filters(conn, filters, _names(runtime))


def _names(runtime: Runtime) -> Names:
    return Names(runtime.actors, lambda: runtime.gazetteer, runtime.place_keys)


def install(app: ServiceApp) -> None:
    """Add the read routes and the answer cache's fast path (both use the app's ReadSide, which
    `services.api.context.wire` adds when the app starts)."""
    app.add_front_middleware(CachedReads)
    app.include_router(router)

    @app.exception_handler(UnknownFilter)
    async def _unknown_filter(_: Request, exc: UnknownFilter) -> Response:
        error = {"loc": ["query", exc.param], "msg": str(exc), "type": "unknown_value"}
        return problem(422, "unknown-filter", str(exc), errors=[{**error, "suggestions": exc.suggestions}])

    @app.exception_handler(NotYetRecorded)
    async def _not_yet(_: Request, exc: NotYetRecorded) -> Response:
        detail = (
            f"place {exc.place_id!r} was not yet recorded at known_at={exc.known_at} "
            f"(it was first recorded at {exc.recorded_at.isoformat()})"
        )
        return problem(404, "not-yet-recorded", detail)
