"""Renaming places: `PATCH /v1/places/{place_id}` sets the display name or adds aliases.

A rename is an event in the log (PlaceNamesChanged), not an edit of the registry row, because
readers must see names as they stood: a read at a read-model version shows the names of that
version, `known_at` before the rename shows the old name, and a replay, which rebuilds everything
from the log, cannot lose one. The registry's name keys learn the new names in the same
transaction, so claims resolve by them at once; no name is ever taken away (the old display name
stays an alias), so a claim that resolved before still resolves to the same place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from pydantic import Field, model_validator

from services.domain.events import PLACE_NAMES_CHANGED
from services.domain.names import name_key
from services.domain.places import Place
from services.gazetteer import Gazetteer
from services.ingest.problems import FieldError, NameClash, Rejected
from services.ingest.schemas import PlaceOut, Strict, Text, place_fields
from services.store import event_log
from services.store import places as place_store
from services.store.event_log import NewEvent
from services.store.locks import lock_registry
from services.web.auth import BEARER, authenticated_route
from services.web.deps import RuntimeDep, require_json
from services.web.problems import problem, problem_responses


class PlaceNamesIn(Strict):
    """A new display name, aliases to add, or both."""

    name: Text | None = None
    aliases: list[Text] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> PlaceNamesIn:
        if self.name is None and not self.aliases:
            raise ValueError("give a new name, aliases to add, or both")
        return self


class PlaceNamesOut(PlaceOut):
    position: int | None  # of the event that set these names (min_position for reading them)


@dataclass
class PlaceNotFound(Exception):
    place_id: str


@dataclass(frozen=True)
class Renamed:
    place: Place
    position: int | None
    changed: bool


def rename_place(conn: sa.Connection, place_id: str, body: PlaceNamesIn, gazetteer: Gazetteer) -> Renamed:
    """Record the place's new names in the caller's write transaction.

    PlaceNotFound for an unrecorded place; Rejected for a name with nothing to match on; NameClash
    when a new name already names another place (recorded, or in the gazetteer of its country).
    Names it has already change nothing and append nothing.
    """
    lock_registry(conn)  # the clash check and the new keys must not interleave with another writer
    recorded = place_store.get(conn, place_id)
    if recorded is None:
        raise PlaceNotFound(place_id)
    given = place_store.names_in_log(conn, [place_id])
    current = place_store.named(recorded, given)
    name = body.name or current.name
    aliases = tuple(
        dict.fromkeys(a for a in (*current.aliases, *(body.aliases or ()), current.name) if a != name)
    )
    if (name, aliases) == (current.name, current.aliases):
        return Renamed(current, given[place_id].position if given else None, changed=False)
    new = [n for n in (name, *aliases) if n not in current.names]
    _check(conn, current, new, gazetteer)
    data = {"place_id": place_id, "name": name, "aliases": list(aliases), "previous_name": current.name}
    [appended] = event_log.append(conn, [NewEvent(PLACE_NAMES_CHANGED, place_id, data)])
    place_store.add_keys(conn, place_id, new)
    return Renamed(replace(current, name=name, aliases=aliases), appended.position, changed=True)


def _check(conn: sa.Connection, place: Place, new: list[str], gazetteer: Gazetteer) -> None:
    if any(not name_key(n) for n in new):
        raise Rejected([FieldError(["body"], "every name needs a letter or digit", "value_error")])
    others = {
        other.place_id
        for found in place_store.find_by_keys(conn, [name_key(n) for n in new]).values()
        for other in found
        if other.place_id != place.place_id
    }
    # A gazetteer town not recorded yet is a place claims will name: taking its name would send
    # them here instead.
    others |= {
        entry.place_id
        for n in new
        for entry in gazetteer.lookup(n)
        if entry.place_id != place.place_id and entry.country == place.country
    }
    if others:
        raise NameClash(f"a new name of {place.place_id} already names {', '.join(sorted(others))}")


PlaceId = Annotated[str, Path(max_length=200, description="The place's id")]

router = APIRouter(
    prefix="/v1",
    tags=["write"],
    # The key is checked before the body is read (the route class); BEARER declares it in OpenAPI.
    dependencies=[Depends(BEARER), Depends(require_json)],
    route_class=authenticated_route("ingest", "admin"),
    responses=problem_responses(400, 401, 403, 404, 408, 409, 413, 415, 422, 503),
)


@router.patch("/places/{place_id}")
def patch_place(place_id: PlaceId, body: PlaceNamesIn, runtime: RuntimeDep) -> PlaceNamesOut:
    """Set a place's display name or add aliases (an ingest or admin key). The old name stays an
    alias; reads show the new names once projected (`min_position` = the answer's `position`)."""
    with runtime.db.transaction() as conn:
        renamed = rename_place(conn, place_id, body, runtime.gazetteer)
    if renamed.changed:
        runtime.doorbell.ring()  # the read models move past the rename: cached answers turn over
    return PlaceNamesOut(**place_fields(renamed.place), position=renamed.position)


def install(app: FastAPI) -> None:
    app.include_router(router)

    @app.exception_handler(PlaceNotFound)
    async def _not_found(_: Request, exc: PlaceNotFound) -> Response:
        return problem(
            404, "place-not-found", f"no place {exc.place_id!r} is recorded; GET /v1/places lists them"
        )
