"""Names readers know: display names from the first claim, renames by PATCH, on both backends."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.projector import rebuild
from services.store import places as place_store
from services.store.database import Database
from services.store.schema import place_names, places
from tests.support.apps import ADMIN, INGEST, log_snapshot


def place(client: TestClient, place_id: str, position: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/places/{place_id}", params={"min_position": position, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def registries(url: str) -> tuple[list[Any], ...]:
    """The log and the place registry, to check that a refused request changed none of them."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = [
                [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in (places, place_names)
            ]
    finally:
        engine.dispose()
    return (log_snapshot(url), *rows)


def test_a_gazetteer_place_is_named_as_the_first_claim_named_it(client: TestClient, seeded: int) -> None:
    abu_kamal = place(client, "albu-kamal-sy", seeded)
    assert abu_kamal["name"] == "Abu Kamal"
    assert abu_kamal["aliases"][0] == "Ālbū Kamāl"  # the gazetteer's name heads the aliases
    assert "Abu Kamal" not in abu_kamal["aliases"]
    raqqa = place(client, "ar-raqqah-sy", seeded)
    assert (raqqa["name"], raqqa["aliases"][0]) == ("Raqqa", "Ar Raqqah")
    contested = client.get("/v1/contested").json()["items"]
    assert [p["name"] for p in contested] == ["Abu Kamal"]
    geojson = client.get("/v1/places.geojson").json()["features"]
    assert {f["properties"]["name"] for f in geojson} >= {"Abu Kamal", "Raqqa", "Rawa", "al-Qaim"}


def test_a_later_claim_spelled_otherwise_keeps_the_first_name(client: TestClient, seeded: int) -> None:
    body = {
        "id": uuid.uuid4().hex,
        "source": {"name": "test"},
        "claims": [{"place": "Albu Kamal", "actor": "SAA", "occurred_at": "2017-11-19"}],
    }
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.json()["events"][0]["place_id"] == "albu-kamal-sy"
    assert place(client, "albu-kamal-sy", response.json()["position"])["name"] == "Abu Kamal"


def test_a_rename_shows_from_its_position_and_not_before_it(client: TestClient, seeded: int) -> None:
    before = datetime.now(UTC)
    time.sleep(0.01)
    response = client.patch("/v1/places/ar-raqqah-sy", json={"name": "Raqqa city"}, headers=INGEST)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["name"] == "Raqqa city"
    assert "Raqqa" in answer["aliases"] and "Ar Raqqah" in answer["aliases"]
    renamed = place(client, "ar-raqqah-sy", answer["position"])
    assert renamed["name"] == "Raqqa city"
    assert "Raqqa" in renamed["aliases"]  # the old display name stays a name it resolves by
    then = place(client, "ar-raqqah-sy", answer["position"], known_at=before.isoformat())
    assert then["name"] == "Raqqa"
    listed = client.get("/v1/places", params={"known_at": before.isoformat(), "q": "raqqa"}).json()
    assert [p["name"] for p in listed["items"]] == ["Raqqa"]
    # Claims resolve by the new name and by the old one, to the same place.
    body = {
        "id": uuid.uuid4().hex,
        "source": {"name": "test"},
        "claims": [
            {"place": "Raqqa City", "actor": "SDF", "occurred_at": "2017-10-21"},
            {"place": "Raqqa", "actor": "SDF", "occurred_at": "2017-10-22"},
        ],
    }
    claimed = client.post("/v1/reports", json=body, headers=INGEST).json()
    assert [e["place_id"] for e in claimed["events"]] == ["ar-raqqah-sy", "ar-raqqah-sy"]


def test_aliases_are_added_with_an_admin_key_too(client: TestClient, seeded: int) -> None:
    response = client.patch("/v1/places/rawah-iq", json={"aliases": ["Rawa town"]}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Rawa"
    assert "Rawa town" in place(client, "rawah-iq", response.json()["position"])["aliases"]
    again = client.patch("/v1/places/rawah-iq", json={"aliases": ["Rawa town"]}, headers=ADMIN)
    assert (again.status_code, again.json()["position"]) == (200, response.json()["position"])


@pytest.mark.parametrize(
    ("place_id", "body", "status"),
    [
        ("albu-kamal-sy", {"name": "Mosul"}, 409),  # another recorded place's name
        ("albu-kamal-sy", {"aliases": ["Al Mawsil"]}, 409),  # another recorded place's alias
        ("albu-kamal-sy", {"aliases": ["Hajin"]}, 409),  # a gazetteer town of the same country
        ("no-such-place", {"name": "Somewhere"}, 404),
        ("albu-kamal-sy", {}, 422),
        ("albu-kamal-sy", {"name": "!!"}, 422),
        ("albu-kamal-sy", {"name": ""}, 422),
        ("albu-kamal-sy", {"name": "Abu Kamal", "kind": "city"}, 422),
    ],
)
def test_a_refused_rename_changes_nothing(
    client: TestClient, backend_url: str, seeded: int, place_id: str, body: dict[str, Any], status: int
) -> None:
    before = registries(backend_url)
    response = client.patch(f"/v1/places/{place_id}", json=body, headers=INGEST)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert registries(backend_url) == before
    assert place(client, "albu-kamal-sy", seeded)["name"] == "Abu Kamal"


def test_a_rename_needs_a_write_key(client: TestClient, seeded: int) -> None:
    assert client.patch("/v1/places/rawah-iq", json={"name": "Rawa2"}).status_code == 401
    read_only = {"Authorization": "Bearer not-a-key"}
    assert client.patch("/v1/places/rawah-iq", json={"name": "Rawa2"}, headers=read_only).status_code == 401


def test_a_replay_keeps_the_rename_and_its_time(client: TestClient, seeded: int) -> None:
    before = datetime.now(UTC)
    time.sleep(0.01)
    renamed = client.patch("/v1/places/albu-kamal-sy", json={"name": "Al-Bukamal"}, headers=INGEST).json()
    replay = client.post("/v1/admin/replay", headers=ADMIN)
    assert replay.status_code == 202, replay.text
    url = f"/v1/admin/replays/{replay.json()['replay_id']}"
    deadline = time.monotonic() + 60
    while (status := client.get(url, headers=ADMIN).json()["status"]) not in ("done", "failed"):
        assert time.monotonic() < deadline, "the replay did not finish"
        time.sleep(0.05)
    assert status == "done"
    after = client.get("/v1/places/albu-kamal-sy", params={"min_position": renamed["position"]})
    assert after.json()["name"] == "Al-Bukamal"
    assert after.json()["status"] == "contested"  # the rename left control as it was
    then = place(client, "albu-kamal-sy", renamed["position"], known_at=before.isoformat())
    assert then["name"] == "Abu Kamal"


def test_names_are_read_as_of_a_log_position(backend_url: str, client: TestClient, seeded: int) -> None:
    renamed = client.patch("/v1/places/mosul-iq", json={"name": "Mosul city"}, headers=INGEST).json()
    db = Database(backend_url)
    try:
        with db.snapshot() as conn:
            assert place_store.names_in_log(conn, ["mosul-iq"], upto=renamed["position"] - 1) == {}
            names = place_store.names_in_log(conn, ["mosul-iq"], upto=renamed["position"])
    finally:
        db.dispose()
    assert names["mosul-iq"].name == "Mosul city"


def test_a_renamed_place_is_listed_as_changed(backend_url: str, client: TestClient, seeded: int) -> None:
    renamed = client.patch("/v1/places/mosul-iq", json={"name": "Mosul city"}, headers=INGEST).json()
    changes = client.get(
        "/v1/changes", params={"after": renamed["position"] - 1, "min_position": renamed["position"]}
    ).json()["items"]
    assert [(c["place_id"], c["name"], c["position"]) for c in changes] == [
        ("mosul-iq", "Mosul city", renamed["position"])
    ]
    db = Database(backend_url)
    try:
        assert rebuild.verify(db) == []  # incremental projection and a rebuild agree on it
    finally:
        db.dispose()


def test_an_unknown_place_filter_suggests_places_by_the_names_they_go_by_now(
    client: TestClient, seeded: int
) -> None:
    """The suggestions come from the stored name keys: a renamed place is suggested under its new
    name, and once, however many of its names come close."""
    response = client.patch("/v1/places/al-qaim-iq", json={"name": "Qaim border town"}, headers=INGEST)
    assert response.status_code == 200, response.text
    position = response.json()["position"]
    answer = client.get("/v1/places", params={"place": "Qaim bordr town", "min_position": position})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["suggestions"][0] == "Qaim border town"
    assert len(error["suggestions"]) == len(set(error["suggestions"]))
    answer = client.get("/v1/places", params={"place": "al-Qaimm", "min_position": position})
    [error] = answer.json()["errors"]
    assert error["suggestions"].count("Qaim border town") == 1  # its old name is near too
