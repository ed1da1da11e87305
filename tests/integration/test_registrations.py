"""Registering places and actors, and renaming places no claim has named: each is an event that
moves the read models, so answers cached before it turn over; on both backends.

Every scenario first reads (and so caches) the answers the write must change, then reads them again
with `min_position` = the write's `position`, as a client following its own write would.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.projector import rebuild
from services.store.database import Database
from services.store.read_models import tables
from services.store.schema import actors, place_names, places
from tests.support.apps import INGEST, log_snapshot

TELL = {"name": "Tell Foo", "country": "SY", "kind": "area", "location": {"lat": 35.0, "lon": 40.0}}


def read(client: TestClient, path: str, position: int, **params: Any) -> Any:
    response = client.get(path, params={"min_position": position, **params})
    assert response.status_code == 200, response.text
    assert int(response.headers["x-projection-position"]) >= position
    return response.json()


def listed(client: TestClient, position: int) -> dict[str, str]:
    """Place id -> name, as `/v1/places` lists them."""
    return {p["place_id"]: p["name"] for p in read(client, "/v1/places", position, country="SY")["items"]}


def mapped(client: TestClient, position: int) -> dict[str, str]:
    features = read(client, "/v1/places.geojson", position)["features"]
    return {f["id"]: f["properties"]["name"] for f in features}


def register(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/places", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    answer = dict(response.json())
    assert isinstance(answer["position"], int)
    return answer


def verified(url: str) -> list[rebuild.Difference]:
    db = Database(url)
    try:
        return rebuild.verify(db)
    finally:
        db.dispose()


def test_a_registered_place_joins_the_cached_lists(client: TestClient, backend_url: str, seeded: int) -> None:
    assert "tell-foo-sy" not in listed(client, seeded)  # cached now
    assert "tell-foo-sy" not in mapped(client, seeded)
    unfiltered = read(client, "/v1/places", seeded)["items"]
    registered = register(client, TELL)
    assert registered["place_id"] == "tell-foo-sy"
    position = registered["position"]
    assert listed(client, position)["tell-foo-sy"] == "Tell Foo"
    assert mapped(client, position)["tell-foo-sy"] == "Tell Foo"
    after = read(client, "/v1/places", position)["items"]
    assert len(after) == len(unfiltered) + 1
    one = read(client, "/v1/places/tell-foo-sy", position)
    assert (one["status"], one["control"]) == ("unknown", [])
    changes = read(client, "/v1/changes", position, after=position - 1)["items"]
    assert [(c["place_id"], c["status"], c["position"]) for c in changes] == [
        ("tell-foo-sy", "unknown", position)
    ]
    assert verified(backend_url) == []  # incremental projection and a rebuild agree on it


def test_a_registration_is_a_place_registered_event(client: TestClient, backend_url: str) -> None:
    registered = register(client, {**TELL, "aliases": ["Tal Foo"], "population": 1200})
    log = client.get("/v1/events", params={"after": registered["position"] - 1}).json()["items"]
    assert [(e["type"], e["stream_id"], e["position"]) for e in log] == [
        ("PlaceRegistered", "tell-foo-sy", registered["position"])
    ]
    assert log[0]["data"] == {
        "place_id": "tell-foo-sy",
        "name": "Tell Foo",
        "country": "SY",
        "kind": "area",
        "aliases": ["Tal Foo"],
        "location": {"lat": 35.0, "lon": 40.0},
        "population": 1200,
    }


def test_a_rename_of_a_place_no_claim_named_is_seen(
    client: TestClient, backend_url: str, seeded: int
) -> None:
    registered = register(client, TELL)
    assert read(client, "/v1/places/tell-foo-sy", registered["position"])["name"] == "Tell Foo"  # cached
    assert listed(client, registered["position"])["tell-foo-sy"] == "Tell Foo"
    assert mapped(client, registered["position"])["tell-foo-sy"] == "Tell Foo"
    response = client.patch("/v1/places/tell-foo-sy", json={"name": "Tell Bar"}, headers=INGEST)
    assert response.status_code == 200, response.text
    position = response.json()["position"]
    assert read(client, "/v1/places/tell-foo-sy", position)["name"] == "Tell Bar"
    assert listed(client, position)["tell-foo-sy"] == "Tell Bar"
    assert mapped(client, position)["tell-foo-sy"] == "Tell Bar"
    changes = read(client, "/v1/changes", position, after=position - 1)["items"]
    assert [(c["place_id"], c["name"], c["position"]) for c in changes] == [
        ("tell-foo-sy", "Tell Bar", position)
    ]
    assert verified(backend_url) == []


def test_a_registered_actor_joins_the_cached_actor_list(
    client: TestClient, backend_url: str, seeded: int
) -> None:
    before = {a["actor_id"] for a in read(client, "/v1/actors", seeded, limit=1000)["items"]}  # cached
    response = client.post("/v1/actors", json={"name": "Tribal Council X"}, headers=INGEST)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["actor_id"], answer["name"]) == ("tribal-council-x", "Tribal Council X")
    position = answer["position"]
    after = {a["actor_id"] for a in read(client, "/v1/actors", position, limit=1000)["items"]}
    assert after == before | {"tribal-council-x"}
    log = client.get("/v1/events", params={"after": position - 1}).json()["items"]
    assert [(e["type"], e["data"]) for e in log] == [
        ("ActorRegistered", {"actor_id": "tribal-council-x", "name": "Tribal Council X", "aliases": []})
    ]
    assert verified(backend_url) == []


def registries(url: str) -> list[Any]:
    """The log, the registries and the place states, to check that a refused write changed none."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = [
                [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in (places, place_names, actors, tables().place_state)
            ]
    finally:
        engine.dispose()
    return [log_snapshot(url), *rows]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/places", {"name": "Raqqa", "country": "SY"}),  # names a recorded place of its country
        ("/v1/places", {"name": "Somewhere", "country": "SY", "place_id": "albu-kamal-sy"}),
        ("/v1/actors", {"name": "Another", "aliases": ["ISIS"]}),
        ("/v1/actors", {"name": "Islamic State"}),
    ],
    ids=["place name", "place id", "actor alias", "actor id"],
)
def test_a_refused_registration_appends_nothing(
    client: TestClient, backend_url: str, seeded: int, path: str, body: dict[str, Any]
) -> None:
    read(client, "/v1/places", seeded)
    before = registries(backend_url)
    response = client.post(path, json=body, headers=INGEST)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert registries(backend_url) == before
