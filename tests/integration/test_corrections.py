"""Corrections and retractions: each changes what `as_of` answers at once; `known_at` before them
still shows what was known then; the database refuses nothing it should accept and the API refuses
what it should, writing nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.combined import create_app
from tests.support.apps import ADMIN, INGEST, log_snapshot, settings_for
from tests.support.databases import postgres_schema


@pytest.fixture(scope="module")
def database_url(postgres_server: str) -> Iterator[str]:
    with postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def client(database_url: str, cache_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(database_url, cache_dir, reconcile_interval=0.2))) as c:
        yield c


def report(client: TestClient, *claims: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"id": uuid.uuid4().hex, "source": {"name": "test"}, "claims": list(claims)}
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    return list(response.json()["events"])


def amend(client: TestClient, kind: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(f"/v1/{kind}", json=body, headers=INGEST)
    assert response.status_code == status, response.text
    return dict(response.json())


def place(client: TestClient, place_id: str, position: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/places/{place_id}", params={**params, "min_position": position})
    assert response.status_code == 200, response.text
    return dict(response.json())


def shares(body: dict[str, Any]) -> dict[str, float]:
    return {c["actor_id"]: c["share"] for c in body["control"]}


def instant() -> str:
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


def new_place(name: str) -> dict[str, Any]:
    return {
        "place": f"{name} {uuid.uuid4().hex[:6]}",
        "country": "SY",
        "location": {"lat": 35.0, "lon": 39.0},
    }


def test_a_corrected_share_changes_the_state_and_known_at_before_it_does_not(client: TestClient) -> None:
    where = new_place("Share town")
    taken, split = report(
        client,
        {**where, "actor": "SAA", "occurred_at": "2017-11-08"},
        {**where, "actor": "IS", "share": 40, "from_actor": "SAA", "occurred_at": "2017-11-10"},
    )
    before = instant()
    corrected = amend(
        client, "corrections", {"event_id": split["event_id"], "changes": {"share": 25}, "reason": "revised"}
    )
    assert corrected["type"] == "ClaimCorrected"
    assert corrected["target_event_id"] == split["event_id"]
    now = place(client, taken["place_id"], corrected["position"])
    assert shares(now) == {"syrian-arab-army": 75.0, "islamic-state": 25.0}
    then = place(client, taken["place_id"], corrected["position"], known_at=before)
    assert shares(then) == {"syrian-arab-army": 60.0, "islamic-state": 40.0}
    history = client.get(f"/v1/places/{taken['place_id']}/history").json()["items"]
    assert history[1]["share"] == 25.0
    assert [c["changes"] for c in history[1]["corrections"]] == [{"share": 25.0}]


def test_a_corrected_date_moves_the_claim_in_time(client: TestClient) -> None:
    where = new_place("Date town")
    [claim] = report(client, {**where, "actor": "SDF", "occurred_at": "2017-10-20"})
    before = instant()
    fixed = amend(
        client,
        "corrections",
        {
            "event_id": claim["event_id"],
            "changes": {"occurred_at": "2017-10-01"},
            "reason": "the date was off by weeks",
        },
    )
    assert place(client, claim["place_id"], fixed["position"], as_of="2017-10-10")["status"] == "controlled"
    assert (
        place(client, claim["place_id"], fixed["position"], as_of="2017-10-10", known_at=before)["status"]
        == "unknown"
    )


def test_a_corrected_actor(client: TestClient) -> None:
    where = new_place("Actor town")
    [claim] = report(client, {**where, "actor": "SDF", "occurred_at": "2017-10-20"})
    fixed = amend(
        client,
        "corrections",
        {"event_id": claim["event_id"], "changes": {"actor": "Peshmerga"}, "reason": "r"},
    )
    assert shares(place(client, claim["place_id"], fixed["position"])) == {"peshmerga": 100.0}


def test_a_corrected_place_refolds_both_places(client: TestClient) -> None:
    right, wrong = new_place("Right town"), new_place("Wrong town")
    [held] = report(client, {**right, "actor": "SAA", "occurred_at": "2017-09-01"})
    [confused] = report(client, {**wrong, "actor": "IS", "occurred_at": "2017-09-05"})
    before = instant()
    fixed = amend(
        client,
        "corrections",
        {
            "event_id": confused["event_id"],
            "changes": {"place": right["place"], "share": 30},
            "reason": "confused",
        },
    )
    assert sorted(fixed["place_ids"]) == sorted({held["place_id"], confused["place_id"]})
    assert place(client, confused["place_id"], fixed["position"])["status"] == "unknown"
    assert shares(place(client, held["place_id"], fixed["position"])) == {
        "syrian-arab-army": 70.0,
        "islamic-state": 30.0,
    }
    then = place(client, confused["place_id"], fixed["position"], known_at=before)
    assert shares(then) == {"islamic-state": 100.0}
    assert shares(place(client, held["place_id"], fixed["position"], known_at=before)) == {
        "syrian-arab-army": 100.0
    }


def test_a_retraction_withdraws_the_claim(client: TestClient) -> None:
    where = new_place("Denied town")
    held, denied = report(
        client,
        {**where, "actor": "ISF", "occurred_at": "2017-06-01"},
        {**where, "actor": "IS", "share": 100, "occurred_at": "2017-06-10"},
    )
    before = instant()
    retracted = amend(
        client, "retractions", {"event_id": denied["event_id"], "reason": "denied by both sides"}
    )
    assert shares(place(client, held["place_id"], retracted["position"])) == {"iraqi-security-forces": 100.0}
    assert shares(place(client, held["place_id"], retracted["position"], known_at=before)) == {
        "islamic-state": 100.0
    }
    history = client.get(f"/v1/places/{held['place_id']}/history").json()["items"]
    assert [h["retracted"] for h in history] == [False, True]
    assert (
        amend(client, "retractions", {"event_id": denied["event_id"], "reason": "again"}, 409)["status"]
        == 409
    )
    assert amend(
        client, "corrections", {"event_id": denied["event_id"], "changes": {"share": 5}, "reason": "r"}, 409
    )


def test_amendments_are_idempotent_by_id(client: TestClient, database_url: str) -> None:
    [claim] = report(client, {**new_place("Id town"), "actor": "SAA", "occurred_at": "2017"})
    body = {"id": uuid.uuid4().hex, "event_id": claim["event_id"], "changes": {"share": 50}, "reason": "r"}
    first = amend(client, "corrections", body)
    before = log_snapshot(database_url)
    assert amend(client, "corrections", body, 200) == first
    assert amend(client, "corrections", {**body, "reason": "another"}, 409)["status"] == 409
    assert log_snapshot(database_url) == before


BAD = [
    ("corrections", {"event_id": "nope", "changes": {"share": 5}, "reason": "r"}, 404),
    ("retractions", {"event_id": "nope", "reason": "r"}, 404),
    ("corrections", {"event_id": "{claim}", "changes": {}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"share": 120}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"actor": "Martians"}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"from_actor": "SAA"}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"occurred_at": "2017-13-45"}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"place": "Nowhere-on-earth"}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"share": None}, "reason": "r"}, 422),
    ("corrections", {"event_id": "{claim}", "changes": {"share": 5}}, 422),
    ("retractions", {"event_id": "{claim}"}, 422),
]


@pytest.mark.parametrize(("kind", "body", "status"), BAD)
def test_bad_amendments_are_problems_and_write_nothing(
    client: TestClient, database_url: str, kind: str, body: dict[str, Any], status: int
) -> None:
    [claim] = report(client, {**new_place("Bad town"), "actor": "SAA", "occurred_at": "2017"})
    if body.get("event_id") == "{claim}":
        body = {**body, "event_id": claim["event_id"]}
    before = log_snapshot(database_url)
    response = client.post(f"/v1/{kind}", json=body, headers=INGEST)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert log_snapshot(database_url) == before


def test_amendments_need_an_ingest_key(client: TestClient) -> None:
    assert client.post("/v1/retractions", json={"event_id": "x", "reason": "r"}).status_code == 401
    assert (
        client.post("/v1/retractions", json={"event_id": "x", "reason": "r"}, headers=ADMIN).status_code
        == 403
    )


def test_a_concurrent_correction_and_retraction_never_correct_a_retracted_claim(
    client: TestClient, database_url: str
) -> None:
    for _ in range(10):
        [claim] = report(client, {**new_place("Race town"), "actor": "SAA", "occurred_at": "2017"})
        results: dict[str, int] = {}

        def send(
            kind: str, body: dict[str, Any], claim: dict[str, Any] = claim, results: dict[str, int] = results
        ) -> None:
            results[kind] = client.post(
                f"/v1/{kind}", json={"event_id": claim["event_id"], **body}, headers=INGEST
            ).status_code

        threads = [
            threading.Thread(target=send, args=("corrections", {"changes": {"share": 50}, "reason": "r"})),
            threading.Thread(target=send, args=("retractions", {"reason": "r"})),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results["retractions"] == 201
        assert results["corrections"] in (201, 409)
        engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            kinds = (
                conn.execute(
                    sa.text("SELECT type FROM events WHERE target_event_id = :e ORDER BY position"),
                    {"e": claim["event_id"]},
                )
                .scalars()
                .all()
            )
        engine.dispose()
        assert kinds in (["ClaimCorrected", "ClaimRetracted"], ["ClaimRetracted"])
