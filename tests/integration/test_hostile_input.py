"""Hostile and unusual input (issue 11): long names, dates before the year 1000, keyless bad JSON,
LIKE wildcards and slow bodies. Every answer is a clear one (never a 5xx), and a refusal writes
nothing: the log and the registries are the same after it as before."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.combined import create_app
from services.store.schema import actors, events, place_names, places, requests
from tests.support.apps import INGEST, live_server, settings_for
from tests.support.databases import postgres_schema

pytestmark = pytest.mark.postgres

STORED = (events, requests, places, place_names, actors)


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def database_url(
    request: pytest.FixtureRequest, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        from tests.support.databases import sqlite_database

        yield sqlite_database(tmp_path_factory.mktemp("hostile") / "frontline.db")
        return
    with postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def client(database_url: str, cache_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(database_url, cache_dir, reconcile_interval=0.2))) as c:
        yield c


def stored(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the log, the idempotency records and the registries."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr) for t in STORED}
    finally:
        engine.dispose()


def post(client: TestClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(path, json=body, headers=INGEST)
    assert response.status_code == status, response.text
    return dict(response.json())


def refused(client: TestClient, database_url: str, path: str, body: Any, status: int = 422) -> Any:
    """POST `body`, expect a problem with `status`, and check nothing was stored."""
    before = stored(database_url)
    response = client.post(path, json=body, headers=INGEST)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert stored(database_url) == before
    return response.json()


def report(*claims: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "source": {"name": "test"}, "claims": list(claims)}


def place_at(client: TestClient, place_id: str, position: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/places/{place_id}", params={**params, "min_position": position})
    assert response.status_code == 200, response.text
    return dict(response.json())


def unique_name(length: int, letter: str = "A") -> str:
    tag = uuid.uuid4().hex[:8]
    return (tag + letter * length)[:length]


# 1. Long names: every length the API accepts fits what the store holds.


@pytest.mark.parametrize("length", [201, 500])
def test_an_actor_with_a_long_name_gets_an_id_that_fits(client: TestClient, length: int) -> None:
    name = unique_name(length)
    actor = post(client, "/v1/actors", {"name": name})
    assert actor["name"] == name and len(actor["actor_id"]) <= 200
    again = client.post("/v1/actors", json={"name": name}, headers=INGEST)
    assert again.status_code == 409  # the same name derives the same id
    claim = {"place": "Rawa", "actor": name, "occurred_at": "2017-11-17"}
    assert post(client, "/v1/reports", report(claim))["events"][0]["actor_id"] == actor["actor_id"]


def test_a_place_with_a_long_name_gets_an_id_that_fits(client: TestClient) -> None:
    name = unique_name(300, "B")
    place = post(client, "/v1/places", {"name": name, "country": "SY"})
    assert len(place["place_id"]) <= 200 and place["place_id"].endswith("-sy")
    # Names whose matching key grows under Unicode normalisation (one character, eighteen letters).
    expanding = f"{uuid.uuid4().hex[:6]} " + "\ufdfa" * 490
    assert len(post(client, "/v1/places", {"name": expanding, "country": "IQ"})["place_id"]) <= 200
    claim = {"place": expanding, "actor": "IS", "occurred_at": "2017"}
    assert post(client, "/v1/reports", report(claim))["events"][0]["place_id"].endswith("-iq")


def test_a_claim_and_a_correction_creating_a_long_named_place_are_recorded(client: TestClient) -> None:
    where = {"country": "SY", "location": {"lat": 34.9, "lon": 40.5}}
    claim = {"place": unique_name(300, "C"), **where, "actor": "SDF", "occurred_at": "2017-11-20"}
    created = post(client, "/v1/reports", report(claim))["events"][0]
    assert created["place_created"] and len(created["place_id"]) <= 200
    moved_to = unique_name(500, "D")
    correction = {"event_id": created["event_id"], "changes": {"place": moved_to, **where}, "reason": "r"}
    corrected = post(client, "/v1/corrections", correction)
    assert corrected["place_created"] and all(len(p) <= 200 for p in corrected["place_ids"])
    [moved_id] = set(corrected["place_ids"]) - {created["place_id"]}
    state = place_at(client, moved_id, corrected["position"])
    assert state["name"] == moved_to and state["control"][0]["actor_id"] == "syrian-democratic-forces"


def test_a_name_over_500_characters_is_a_422_and_nothing_is_stored(
    client: TestClient, database_url: str
) -> None:
    long = unique_name(501)
    refused(client, database_url, "/v1/actors", {"name": long})
    refused(client, database_url, "/v1/places", {"name": long, "country": "SY"})
    claim = {"place": long, "country": "SY", "location": {"lat": 34.9, "lon": 40.5}, "actor": "IS"}
    refused(client, database_url, "/v1/reports", report({**claim, "occurred_at": "2017"}))


# 2. Dates before the year 1000: accepted, exactly as given (four-digit years), precision kept.


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00Z"),
        ("0001-01-01T00:00:00-12:00", "0001-01-01T12:00:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0500-03-04T05:06:07.25+02:00", "0500-03-04T03:06:07.250000Z"),
        ("0999", "0999"),
        ("0042-07", "0042-07"),
        ("0001-01-01", "0001-01-01"),
    ],
)
def test_a_date_before_the_year_1000_round_trips(client: TestClient, given: str, recorded: str) -> None:
    name = f"Old Fort {uuid.uuid4().hex[:8]}"
    claim = {"place": name, "country": "IQ", "location": {"lat": 33.0, "lon": 43.0}, "actor": "ISF"}
    event = post(client, "/v1/reports", report({**claim, "occurred_at": given}))["events"][0]
    place = place_at(client, event["place_id"], event["position"])
    assert place["changed_at"] == recorded and place["control"][0]["since"] == recorded
    history = client.get(f"/v1/places/{event['place_id']}/history").json()["items"]
    assert [h["occurred_at"] for h in history] == [recorded]
    assert place_at(client, event["place_id"], event["position"], as_of="0999")["status"] in (
        "controlled",
        "unknown",
    )
    later = {
        "event_id": event["event_id"],
        "changes": {"occurred_at": "0998-12-31T23:59:59.5Z"},
        "reason": "r",
    }
    corrected = post(client, "/v1/corrections", later)
    place = place_at(client, event["place_id"], corrected["position"])
    assert place["changed_at"] == "0998-12-31T23:59:59.500000Z"


def test_a_time_before_year_1_in_utc_is_a_422_with_its_reason(client: TestClient, database_url: str) -> None:
    claim = {"place": "Rawa", "actor": "ISF", "occurred_at": "0001-01-01T00:00:00+01:00"}
    problem = refused(client, database_url, "/v1/reports", report(claim))
    assert "outside the years 0001 to 9999" in problem["detail"]
    event = post(client, "/v1/reports", report({**claim, "occurred_at": "2017"}))["events"][0]
    change = {
        "event_id": event["event_id"],
        "changes": {"occurred_at": "0001-01-01T00:30:00+01:00"},
        "reason": "r",
    }
    assert "outside the years" in refused(client, database_url, "/v1/corrections", change)["detail"]


# 7. Keys before bodies, LIKE wildcards, slow bodies.


@pytest.mark.parametrize("path", ["/v1/reports", "/v1/corrections", "/v1/places", "/v1/admin/replay"])
def test_a_keyless_request_with_malformed_json_is_401(
    client: TestClient, database_url: str, path: str
) -> None:
    before = stored(database_url)
    response = client.post(path, content=b'{"id": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    wrong = client.post(
        path, content=b"{", headers={"Content-Type": "application/json", "Authorization": "Bearer x"}
    )
    assert wrong.status_code == 401
    assert stored(database_url) == before


@pytest.mark.parametrize("q", ["%", "_", "%%", "_%_", "-", "al"])
def test_like_wildcards_in_q_match_nothing(client: TestClient, q: str) -> None:
    event = post(client, "/v1/reports", report({"place": "Abu Kamal", "actor": "SAA", "occurred_at": "2017"}))
    position = event["position"]
    everything = client.get("/v1/places", params={"min_position": position}).json()["items"]
    assert everything
    found = client.get("/v1/places", params={"q": q, "min_position": position})
    assert found.status_code == 200 and found.json()["items"] == []
    bukamal = client.get("/v1/places", params={"q": "bukamal", "min_position": position}).json()["items"]
    assert [p["place_id"] for p in bukamal] == ["albu-kamal-sy"]


def test_a_body_sent_too_slowly_is_a_408(database_url: str, cache_dir: Path) -> None:
    settings = settings_for(database_url, cache_dir, body_timeout=1.0)
    app = create_app(settings)
    before = stored(database_url)
    with live_server(app) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            head = (
                "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {INGEST['Authorization']}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            )
            conn.sendall(head.encode() + b'{"id": "slow", ')
            started = time.monotonic()
            answer = _read_until_closed(conn)
            waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"application/problem+json" in answer and b"did not arrive within 1 s" in answer
    assert 0.8 < waited < 5, waited  # answered at the bound, and the connection closed
    assert stored(database_url) == before


def _read_until_closed(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
