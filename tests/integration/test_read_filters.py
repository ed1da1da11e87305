"""Filters that resolve names as claims do, and errors that say what to do, on both backends."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.api.filters import Names, PlaceFilters, UnknownFilter, resolve
from services.combined import create_app
from services.domain.places import Place
from services.gazetteer import Gazetteer
from services.seed import SEED_REPORT
from services.store import places as place_store
from services.store.actors import ActorDirectory
from services.store.database import Database
from services.store.places import RecordedKeys
from tests.support import databases
from tests.support.apps import INGEST, log_snapshot, settings_for


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def seeded(
    request: pytest.FixtureRequest, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, int, str]]:
    """A client of a seeded service, its seed's position and its database URL."""
    if request.param == "postgres":
        schema = databases.postgres_schema(request.getfixturevalue("postgres_server"))
    else:
        schema = _sqlite(tmp_path_factory.mktemp("filters") / "frontline.db")
    with schema as url, TestClient(create_app(settings_for(url, cache_dir))) as client:
        body = copy.deepcopy(SEED_REPORT)
        body["id"] = f"seed-{uuid.uuid4().hex}"
        response = client.post("/v1/reports", json=body, headers=INGEST)
        assert response.status_code == 201, response.text
        yield client, int(response.json()["position"]), url


class _sqlite:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> str:
        return databases.sqlite_database(self.path)

    def __exit__(self, *_: object) -> None:
        return None


def ids(client: TestClient, path: str, position: int, **params: Any) -> list[str]:
    response = client.get(path, params={**params, "min_position": position})
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["features"] if "features" in body else body["items"]
    return sorted(i["properties"]["place_id"] if "properties" in i else i["place_id"] for i in items)


@pytest.mark.parametrize("path", ["/v1/places", "/v1/places.geojson", "/v1/changes"])
def test_filters_take_the_aliases_claims_take(seeded: tuple[TestClient, int, str], path: str) -> None:
    client, position, _ = seeded
    saa = ["albu-kamal-sy", "deir-ez-zor-sy"]
    assert ids(client, path, position, actor="SAA") == saa
    assert ids(client, path, position, actor="Syrian government forces") == saa
    assert ids(client, path, position, actor="syrian-arab-army") == saa
    syria = ["albu-kamal-sy", "ar-raqqah-sy", "deir-ez-zor-sy"]
    assert ids(client, path, position, country="Syria") == syria
    assert ids(client, path, position, country="sy") == syria
    assert ids(client, path, position, country="SYR") == syria
    assert ids(client, path, position, place="Al-Bukamal") == ["albu-kamal-sy"]
    assert ids(client, path, position, place="albu-kamal-sy") == ["albu-kamal-sy"]
    assert ids(client, path, position, place="Raqqa", country="Iraq") == []
    assert ids(client, path, position, place="Hajin") == []  # the gazetteer knows it; no claim yet


@pytest.mark.parametrize(
    ("params", "suggestion"),
    [
        ({"actor": "Syrain Army"}, "Syrian Army"),
        ({"country": "Syrai"}, "Syria (SY)"),
        ({"country": "XX"}, None),
        ({"place": "Abu Kamel"}, "Abu Kamal"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/places", "/v1/places.geojson", "/v1/changes"])
def test_an_unknown_filter_value_is_a_422_with_suggestions(
    seeded: tuple[TestClient, int, str], path: str, params: dict[str, str], suggestion: str | None
) -> None:
    client, position, _ = seeded
    response = client.get(path, params={**params, "min_position": position})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [(param, value)] = params.items()
    [error] = response.json()["errors"]
    assert error["loc"] == ["query", param]
    assert f"no {param} is known as {value!r}" in response.json()["detail"]
    if suggestion is not None:
        assert suggestion in error["suggestions"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        (
            {"as_of": "last tuesday"},
            "as_of must be a date such as 2017, 2017-11 or 2017-11-09, or a timestamp",
        ),
        ({"as_of": "2017-13"}, "as_of must be a date such as 2017, 2017-11 or 2017-11-09, or a timestamp"),
        ({"known_at": "2017-11-09Tnoon"}, "known_at must be a date such as 2017"),
        ({"min_position": "soon"}, "min_position must be a log position: a whole number from 0"),
        ({"min_position": "-1"}, "min_position must be a log position"),
    ],
)
def test_a_malformed_time_or_position_is_a_422_in_words(
    seeded: tuple[TestClient, int, str], params: dict[str, str], words: str
) -> None:
    client, _, _ = seeded
    response = client.get("/v1/places/albu-kamal-sy", params=params)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert "^" not in response.json()["detail"]  # no regular expression


def test_known_at_before_a_place_was_recorded_is_a_404_that_says_so(
    seeded: tuple[TestClient, int, str],
) -> None:
    client, position, _ = seeded
    response = client.get(
        "/v1/places/albu-kamal-sy", params={"known_at": "2017-11-20", "min_position": position}
    )
    assert response.status_code == 404
    assert "was not yet recorded at known_at=2017-11-20" in response.json()["detail"]
    missing = client.get("/v1/places/no-such-place")
    assert missing.status_code == 404
    assert "no place 'no-such-place' is recorded" in missing.json()["detail"]


def test_an_unmatched_place_in_a_claim_says_how_to_go_on(seeded: tuple[TestClient, int, str]) -> None:
    client, _, url = seeded
    before = log_snapshot(url)
    body = {
        "id": uuid.uuid4().hex,
        "source": {"name": "test"},
        "claims": [{"place": "Abu Kamall Town", "actor": "SAA", "occurred_at": "2017-11-19"}],
    }
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "claims", 0, "place"]
    assert "give the claim's country and location" in error["msg"]
    assert "POST /v1/places" in error["msg"]
    assert log_snapshot(url) == before


def test_a_place_recorded_after_the_requests_snapshot_is_left_out_of_its_suggestions(
    fresh_pg_db: Database,
) -> None:
    """The recorded keys are read once per interval (RecordedKeys), maybe after a request's
    snapshot began: a place recorded in between is left out of its suggestions, not a 500."""
    names = Names(ActorDirectory(), lambda: Gazetteer((), {}, {}), RecordedKeys())
    late = Place("zarqawiyya-sy", "Zarqawiyya", "SY")
    with fresh_pg_db.snapshot() as conn:
        conn.execute(sa.text("SELECT 1"))  # the snapshot is taken at its first statement
        with fresh_pg_db.transaction() as writer:
            place_store.add(writer, late, "registered")
        with fresh_pg_db.snapshot() as newer:
            assert "zarqawiyya" in names.place_keys.get(newer)  # read after the place was recorded
        with pytest.raises(UnknownFilter) as refused:
            resolve(conn, PlaceFilters(place="Zarqawiya"), names)
    assert refused.value.suggestions == []  # its own snapshot has no such place
