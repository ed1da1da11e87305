"""The write API: thin routes that own one transaction each, then ring the doorbell."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request, Response

from services.ingest import examples, place_names
from services.ingest.corrections import (
    Amended,
    AmendmentOut,
    CorrectionIn,
    RetractionIn,
    record_correction,
    record_retraction,
)
from services.ingest.problems import (
    AlreadyRetracted,
    EventNotFound,
    IdConflict,
    NameClash,
    Rejected,
)
from services.ingest.registry import register_actor, register_place
from services.ingest.reports import Submission, body_hash
from services.ingest.schemas import (
    ActorIn,
    PlaceIn,
    RegisteredActorOut,
    RegisteredPlaceOut,
    ReportIn,
    ReportOut,
    place_fields,
)
from services.ingest.writer import ReportWriter, WriterUnavailable
from services.web.auth import BEARER, authenticated_route
from services.web.context import AppContext, context_of
from services.web.deps import RuntimeDep, require_json
from services.web.problems import problem, problem_responses
from services.web.runtime import Runtime

WRITE_ERRORS = (400, 401, 403, 408, 409, 413, 415, 422, 503)

router = APIRouter(
    prefix="/v1",
    tags=["write"],
    # The key is checked before the body is read (the route class); BEARER declares it in OpenAPI.
    dependencies=[Depends(BEARER), Depends(require_json)],
    route_class=authenticated_route("ingest"),
    responses=problem_responses(*WRITE_ERRORS),
)


@router.post(
    "/reports",
    status_code=201,
    responses={
        200: {"model": ReportOut, "description": "Already recorded: the first answer"},
        201: {"links": examples.AFTER_REPORT},
    },
)
async def post_report(report: ReportIn, request: Request, response: Response) -> ReportOut:
    """Record a report: all of its claims as events, or none of them. Answered once durable."""
    writer = context_of(request.app).get(ReportWriter)  # not a dependency: one less to solve per report
    outcome = await writer.write(Submission(report, body_hash(report)))
    if not outcome.created:
        response.status_code = 200
    return outcome.answer


@router.post(
    "/corrections",
    status_code=201,
    responses={
        200: {"model": AmendmentOut, "description": "Already recorded: the first answer"},
        201: {"links": examples.AFTER_AMENDMENT},
        **problem_responses(404),
    },
)
def post_correction(body: CorrectionIn, response: Response, runtime: RuntimeDep) -> AmendmentOut:
    """Correct fields of an earlier claim event; its places are re-folded from their history."""
    with runtime.db.transaction() as conn:
        outcome = record_correction(conn, body, body_hash(body), runtime.actors, runtime.gazetteer)
    return _amended(outcome, response, runtime)


@router.post(
    "/retractions",
    status_code=201,
    responses={
        200: {"model": AmendmentOut, "description": "Already recorded: the first answer"},
        201: {"links": examples.AFTER_AMENDMENT},
        **problem_responses(404),
    },
)
def post_retraction(body: RetractionIn, response: Response, runtime: RuntimeDep) -> AmendmentOut:
    """Withdraw an earlier claim event; its place is re-folded without it."""
    with runtime.db.transaction() as conn:
        outcome = record_retraction(conn, body, body_hash(body))
    return _amended(outcome, response, runtime)


def _amended(outcome: Amended, response: Response, runtime: Runtime) -> AmendmentOut:
    if outcome.created:
        runtime.doorbell.ring()
    else:
        response.status_code = 200
    return outcome.answer


@router.post("/places", status_code=201, responses={201: {"links": examples.AFTER_PLACE}})
def post_place(body: PlaceIn, runtime: RuntimeDep) -> RegisteredPlaceOut:
    """Register a place the gazetteer lacks. It is listed once projected (`min_position` = the
    answer's `position`)."""
    with runtime.db.transaction() as conn:
        registered = register_place(conn, body, runtime.gazetteer)
    runtime.doorbell.ring()  # the read models move past the registration: cached lists turn over
    return RegisteredPlaceOut(**place_fields(registered.value), position=registered.position)


@router.post("/actors", status_code=201, responses={201: {"links": examples.AFTER_ACTOR}})
def post_actor(body: ActorIn, runtime: RuntimeDep) -> RegisteredActorOut:
    """Register an actor beyond the built-in ones. `/v1/actors` lists it once projected
    (`min_position` = the answer's `position`)."""
    with runtime.db.transaction() as conn:
        registered = register_actor(conn, body, runtime.actors)
    runtime.doorbell.ring()
    actor = registered.value
    return RegisteredActorOut(
        actor_id=actor.actor_id, name=actor.name, aliases=list(actor.aliases), position=registered.position
    )


def wire(context: AppContext) -> None:
    """Start the report writer (the app factory puts it last: it stops first, before anything
    its batches ring or the database it writes to)."""
    runtime = context.runtime
    writer = ReportWriter(
        runtime.db,
        runtime.actors,
        lambda: runtime.gazetteer,
        runtime.doorbell,
        linger=runtime.settings.report_linger,
    )
    context.start(ReportWriter, writer)


def install(app: FastAPI) -> None:
    """Add the write routes and the translation of write-side errors (`wire` adds their writer)."""
    app.include_router(router)
    place_names.install(app)

    @app.exception_handler(WriterUnavailable)
    async def _unavailable(_: Request, exc: WriterUnavailable) -> Response:
        return problem(503, exc.slug, exc.detail, headers={"Retry-After": "1"})

    @app.exception_handler(Rejected)
    async def _rejected(_: Request, exc: Rejected) -> Response:
        return problem(422, "validation", str(exc), errors=[e.as_dict() for e in exc.errors])

    @app.exception_handler(IdConflict)
    async def _id_conflict(_: Request, exc: IdConflict) -> Response:
        detail = f"{exc.kind} id {exc.request_id!r} was already used with a different body"
        return problem(409, "id-conflict", detail)

    @app.exception_handler(NameClash)
    async def _clash(_: Request, exc: NameClash) -> Response:
        return problem(409, "name-clash", exc.detail)

    @app.exception_handler(EventNotFound)
    async def _not_found(_: Request, exc: EventNotFound) -> Response:
        return problem(404, "event-not-found", f"no claim event {exc.event_id!r}")

    @app.exception_handler(AlreadyRetracted)
    async def _retracted(_: Request, exc: AlreadyRetracted) -> Response:
        return problem(409, "retracted", f"claim event {exc.event_id!r} has been retracted")
