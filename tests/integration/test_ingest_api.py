"""POST /v1/reports against real PostgreSQL: all or nothing, idempotent, clear errors."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.ingest.app import create_app
from services.ingest.resolution import SUGGESTED_PLACES
from services.ingest.writer import ReportWriter
from services.seed import SEED_REPORT
from services.store import schema
from services.web.context import context_of
from tests.support.apps import INGEST, live_server, log_snapshot, settings_for


@pytest.fixture(scope="module")
def app(pg_url: str, cache_dir: Path) -> Any:
    return create_app(settings_for(pg_url, cache_dir))


@pytest.fixture(scope="module")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def report(*claims: dict[str, Any], report_id: str | None = None) -> dict[str, Any]:
    return {
        "id": report_id or f"r-{uuid.uuid4().hex}",
        "source": {"name": "test feed", "url": "https://example.org/1"},
        "claims": list(claims) or [{"place": "Rawa", "actor": "Iraqi forces", "occurred_at": "2017-11-17"}],
    }


def test_a_report_becomes_one_event_per_claim(client: TestClient) -> None:
    body = copy.deepcopy(SEED_REPORT)
    body["id"] = f"seed-{uuid.uuid4().hex}"
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["report_id"] == body["id"]
    assert len(answer["events"]) == len(body["claims"])
    positions = [e["position"] for e in answer["events"]]
    assert positions == sorted(positions) and answer["position"] == positions[-1]
    by_place = [(e["place_id"], e["actor_id"]) for e in answer["events"]]
    assert ("albu-kamal-sy", "syrian-arab-army") in by_place
    assert ("albu-kamal-sy", "islamic-state") in by_place
    assert ("rawah-iq", "iraqi-security-forces") in by_place
    assert ("ar-raqqah-sy", "syrian-democratic-forces") in by_place
    assert not any(e["place_created"] for e in answer["events"])


def test_the_same_report_again_answers_200_with_the_first_answer(client: TestClient, pg_url: str) -> None:
    body = report()
    first = client.post("/v1/reports", json=body, headers=INGEST)
    before = log_snapshot(pg_url)
    # The same meaning, with keys in another order: still the same body.
    again = client.post(
        "/v1/reports",
        content=orjson.dumps(dict(reversed(list(body.items())))),
        headers={**INGEST, "Content-Type": "application/json"},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert log_snapshot(pg_url) == before


def test_the_same_id_with_another_body_is_a_409_and_writes_nothing(client: TestClient, pg_url: str) -> None:
    body = report()
    assert client.post("/v1/reports", json=body, headers=INGEST).status_code == 201
    before = log_snapshot(pg_url)
    body["claims"][0]["share"] = 50
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert log_snapshot(pg_url) == before


def test_an_unknown_place_with_country_and_location_is_created(client: TestClient) -> None:
    name = f"Outpost {uuid.uuid4().hex[:6]}"
    claim = {
        "place": name,
        "country": "SY",
        "location": {"lat": 34.9, "lon": 40.5},
        "actor": "SDF",
        "occurred_at": "2017-11-20",
    }
    first = client.post("/v1/reports", json=report(claim), headers=INGEST).json()
    second = client.post("/v1/reports", json=report(claim), headers=INGEST).json()
    assert first["events"][0]["place_created"] is True
    assert second["events"][0]["place_created"] is False
    assert first["events"][0]["place_id"] == second["events"][0]["place_id"]
    assert first["events"][0]["place_id"].startswith("outpost-")


def test_a_registered_place_wins_over_the_gazetteer(client: TestClient) -> None:
    alias = f"Hajin Pocket {uuid.uuid4().hex[:4]}"
    place = {"name": alias, "country": "SY", "kind": "area", "location": {"lat": 34.69, "lon": 40.83}}
    created = client.post("/v1/places", json=place, headers=INGEST)
    assert created.status_code == 201, created.text
    answer = client.post(
        "/v1/reports",
        json=report({"place": alias.upper(), "actor": "IS", "occurred_at": "2018"}),
        headers=INGEST,
    ).json()
    assert answer["events"][0]["place_id"] == created.json()["place_id"]
    clash = client.post("/v1/places", json={**place, "place_id": None}, headers=INGEST)
    assert clash.status_code == 409


def test_a_registered_actor_resolves_and_clashes_are_409(client: TestClient) -> None:
    name = f"Brigade {uuid.uuid4().hex[:6]}"
    created = client.post("/v1/actors", json={"name": name, "aliases": [f"{name} fighters"]}, headers=INGEST)
    assert created.status_code == 201, created.text
    claim = {"place": "Mosul", "actor": f"{name} fighters", "share": 10, "occurred_at": "2018-02"}
    answer = client.post("/v1/reports", json=report(claim), headers=INGEST)
    assert answer.json()["events"][0]["actor_id"] == created.json()["actor_id"]
    assert (
        client.post("/v1/actors", json={"name": "Another", "aliases": ["ISIS"]}, headers=INGEST).status_code
        == 409
    )


GOOD = {"place": "Rawa", "actor": "Iraqi forces", "occurred_at": "2017-11-17"}


def bad_claim(**changes: Any) -> dict[str, Any]:
    return report({**GOOD, **changes}, {**GOOD})  # one good claim, one bad: nothing may be written


BAD_BODIES: dict[str, tuple[Any, int]] = {
    "share above 100": (bad_claim(share=100.5), 422),
    "share below 0": (bad_claim(share=-1), 422),
    "impossible date": (bad_claim(occurred_at="2017-13-45"), 422),
    "more than a day in the future": (bad_claim(occurred_at="2099-01-01"), 422),
    "latitude 200": (bad_claim(country="SY", location={"lat": 200, "lon": 40}), 422),
    "unknown actor": (bad_claim(actor="Martians"), 422),
    "unknown place without country and location": (bad_claim(place="Nowhere-on-earth"), 422),
    "an actor taking a place from itself": (bad_claim(from_actor="ISF"), 422),
    "empty claims": ({**report(), "claims": []}, 422),
    "over 1000 claims": ({**report(), "claims": [GOOD] * 1001}, 422),
    "a 1 MB string in a field": (bad_claim(note="x" * 1_000_000), 422),
    "a note over 10,000 characters": (bad_claim(note="x" * 10_001), 422),
    "a place name over 500 characters": (bad_claim(place="R" * 501), 422),
    "an unknown field": (bad_claim(sharee=40), 422),
    "no id": ({k: v for k, v in report().items() if k != "id"}, 422),
    "not an object": ([1, 2, 3], 422),
    "a NUL character in a name": (bad_claim(place="Ra\x00wa"), 422),
    "a NUL character in a note": (bad_claim(note="\x00"), 422),
    "a share given as text": (bad_claim(share="40"), 422),
    "a share given as true": (bad_claim(share=True), 422),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(client: TestClient, pg_url: str, case: str) -> None:
    body, status = BAD_BODIES[case]
    before = log_snapshot(pg_url)
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == status
    assert problem["errors"]
    assert log_snapshot(pg_url) == before


BAD_REGISTRATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    # What the OpenAPI contract test once found: a NUL reached PostgreSQL and came back a 500.
    "an actor named with a NUL": ("/v1/actors", {"name": "Kurdish\x00 forces"}),
    "an actor alias with a NUL": ("/v1/actors", {"name": "Kurdish units", "aliases": ["\x00"]}),
    "a place named with a NUL": ("/v1/places", {"name": "Ra\x00qa", "country": "SY"}),
    "a place alias with a NUL": (
        "/v1/places",
        {"name": "Raqqa Town", "country": "SY", "aliases": ["NUL\x00"]},
    ),
    "a population given as a float": (
        "/v1/places",
        {"name": "Raqqa Town", "country": "SY", "population": 4.5},
    ),
    "a latitude given as text": (
        "/v1/places",
        {"name": "Raqqa Town", "country": "SY", "location": {"lat": "35.9", "lon": 39.0}},
    ),
}


def registry_snapshot(database_url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for table in (schema.places, schema.actors)
                for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
def test_bad_registrations_get_a_422_and_register_nothing(client: TestClient, pg_url: str, case: str) -> None:
    path, body = BAD_REGISTRATIONS[case]
    before = registry_snapshot(pg_url), log_snapshot(pg_url)
    response = client.post(path, json=body, headers=INGEST)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    assert (registry_snapshot(pg_url), log_snapshot(pg_url)) == before


def test_an_unknown_actor_is_answered_with_suggestions(client: TestClient) -> None:
    response = client.post("/v1/reports", json=bad_claim(actor="Syrian Armyy"), headers=INGEST)
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "claims", 0, "actor"]
    assert "Syrian Army" in error["suggestions"]


def test_an_unknown_place_lists_the_nearest_candidates(client: TestClient) -> None:
    response = client.post("/v1/reports", json=bad_claim(place="Rawaa"), headers=INGEST)
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "claims", 0, "place"]
    assert "Rawa" in error["suggestions"]


def test_a_report_of_many_unknown_places_gets_suggestions_for_its_first_ones(
    client: TestClient, pg_url: str
) -> None:
    """Each unknown place is an error; the search for names spelled like it (milliseconds each) is
    made for the first SUGGESTED_PLACES only, so that such a report cannot hold the writer. The
    others say that none were looked for."""
    count = SUGGESTED_PLACES + 3
    before = registry_snapshot(pg_url), log_snapshot(pg_url)
    claims = [{**GOOD, "place": f"Rawaa {n}"} for n in range(count)]
    response = client.post("/v1/reports", json=report(*claims), headers=INGEST)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", "claims", n, "place"] for n in range(count)]
    assert all(e["suggestions"] for e in errors[:SUGGESTED_PLACES])
    assert all("suggestions" not in e and "not looked for" in e["msg"] for e in errors[SUGGESTED_PLACES:])
    assert (registry_snapshot(pg_url), log_snapshot(pg_url)) == before


RAW_BAD: dict[str, tuple[bytes, dict[str, str], int]] = {
    # A lone surrogate is valid JSON but no valid text: it must not reach the database.
    "a lone surrogate in a name": (
        orjson.dumps(report()).replace(b'"Rawa"', b'"Ra\\udae7wa"', 1),
        {"Content-Type": "application/json"},
        422,
    ),
    "malformed JSON": (b'{"id": "x", "claims": [', {"Content-Type": "application/json"}, 400),
    "wrong content type": (orjson.dumps(report()), {"Content-Type": "text/plain"}, 415),
    "no content type": (orjson.dumps(report()), {}, 415),
    "form encoded": (b"id=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    "body over 1 MiB": (b"{" + b" " * (1024 * 1024) + b"}", {"Content-Type": "application/json"}, 413),
}


@pytest.mark.parametrize("case", list(RAW_BAD))
def test_malformed_requests_get_a_clear_4xx_and_write_nothing(
    client: TestClient, pg_url: str, case: str
) -> None:
    content, headers, status = RAW_BAD[case]
    before = log_snapshot(pg_url)
    response = client.post("/v1/reports", content=content, headers={**INGEST, **headers})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert log_snapshot(pg_url) == before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic dGVzdDp0ZXN0"}, 401),
        ({"Authorization": "Bearer test-admin-key"}, 403),
    ],
)
def test_a_missing_or_wrong_key_is_refused_and_writes_nothing(
    client: TestClient, pg_url: str, headers: dict[str, str], status: int
) -> None:
    before = log_snapshot(pg_url)
    response = client.post("/v1/reports", json=report(), headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert log_snapshot(pg_url) == before


def test_writes_refuse_every_request_when_no_ingest_key_is_configured(pg_url: str, cache_dir: Path) -> None:
    app = create_app(settings_for(pg_url, cache_dir, ingest_api_keys=[]))
    with TestClient(app) as c:
        assert c.post("/v1/reports", json=report(), headers=INGEST).status_code == 401
        assert c.post("/v1/reports", json=report()).status_code == 401


def test_dev_mode_on_loopback_accepts_writes_without_a_key(pg_url: str, cache_dir: Path) -> None:
    app = create_app(settings_for(pg_url, cache_dir, ingest_api_keys=[], dev_mode=True, host="127.0.0.1"))
    with TestClient(app) as c:
        assert c.post("/v1/reports", json=report()).status_code == 201


def test_a_chunked_body_over_1_mib_is_413(app: Any, pg_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"id": "chunked", "note": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    before = log_snapshot(pg_url)
    with live_server(app) as base:
        response = httpx.post(
            f"{base}/v1/reports", content=chunks(), headers={**INGEST, "Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert log_snapshot(pg_url) == before


def test_fifty_concurrent_posts_of_one_report_store_its_events_once(app: Any, pg_url: str) -> None:
    body = copy.deepcopy(SEED_REPORT)
    body["id"] = f"race-{uuid.uuid4().hex}"
    before = len(log_snapshot(pg_url))

    def post(base: str) -> httpx.Response:
        # One client per sender, as fifty feeds would have: a shared httpx pool once
        # read from a socket another thread had just closed (EBADF, a client-side race).
        with httpx.Client(base_url=base, headers=INGEST, timeout=60) as http:
            return http.post("/v1/reports", json=body)

    with live_server(app) as base, ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, [base] * 50))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201]
    assert len({r.content for r in responses}) == 1  # every answer is the first answer
    assert len(log_snapshot(pg_url)) == before + len(body["claims"])


def test_a_report_writer_that_has_stopped_is_a_503_at_once_not_a_hang(pg_url: str, cache_dir: Path) -> None:
    # Were its thread ever to end (stopping, or a defect: a doorbell that raised once did), a report
    # would wait for an answer that never comes: it is refused at once instead, and writes nothing.
    with TestClient(create_app(settings_for(pg_url, cache_dir))) as own:
        context_of(own.app).get(ReportWriter).stop()
        before = log_snapshot(pg_url)
        response = own.post("/v1/reports", json=report(), headers=INGEST)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:frontline:problem:writer-stopped"
        assert response.json()["detail"] == "the report writer has stopped; retry shortly"
        assert log_snapshot(pg_url) == before
        ready = own.get("/readyz")
        assert ready.status_code == 503
        assert {"check": "threads", "msg": "report-writer: ended"} in ready.json()["errors"]
