"""The read API against real PostgreSQL: state, time travel, caching, feeds, GeoJSON."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from geojson_pydantic import FeatureCollection

from services.api import paging
from services.api import routes as read_routes
from services.combined import create_app
from services.seed import SEED_REPORT
from tests.support.apps import INGEST, settings_for


@pytest.fixture(scope="module")
def client(postgres_server: str, cache_dir: Path) -> Iterator[TestClient]:
    from tests.support.databases import postgres_schema

    with postgres_schema(postgres_server) as url:
        app = create_app(settings_for(url, cache_dir, reconcile_interval=0.2))
        with TestClient(app) as c:
            yield c


def post(client: TestClient, *claims: dict[str, Any]) -> int:
    body = {"id": uuid.uuid4().hex, "source": {"name": "test"}, "claims": list(claims)}
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def get(client: TestClient, path: str, position: int, **params: Any) -> Any:
    response = client.get(path, params={**params, "min_position": position})
    assert response.status_code == 200, response.text
    return response.json()


def shares(place: dict[str, Any]) -> dict[str, float]:
    return {c["actor_id"]: c["share"] for c in place["control"]}


@pytest.fixture(scope="module")
def seeded(client: TestClient) -> int:
    body = copy.deepcopy(SEED_REPORT)
    body["id"] = f"seed-{uuid.uuid4().hex}"
    response = client.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201
    return int(response.json()["position"])


def test_the_seed_article_as_state(client: TestClient, seeded: int) -> None:
    abu_kamal = get(client, "/v1/places/albu-kamal-sy", seeded)
    assert abu_kamal["status"] == "contested"
    assert shares(abu_kamal) == {"syrian-arab-army": 60.0, "islamic-state": 40.0}
    assert [c["actor"] for c in abu_kamal["control"]] == ["Syrian Arab Army", "Islamic State"]
    assert abu_kamal["changed_at"] == "2017-11-10"
    assert abu_kamal["sources"] and abu_kamal["last_event_id"]
    assert abu_kamal["location"] == {"lat": 34.45226, "lon": 40.91854}
    for place_id, actor in [
        ("rawah-iq", "iraqi-security-forces"),
        ("al-qaim-iq", "iraqi-security-forces"),
        ("deir-ez-zor-sy", "syrian-arab-army"),
        ("mosul-iq", "iraqi-security-forces"),
        ("ar-raqqah-sy", "syrian-democratic-forces"),
    ]:
        place = get(client, f"/v1/places/{place_id}", seeded)
        assert (place["status"], shares(place)) == ("controlled", {actor: 100.0})


def test_every_read_of_state_carries_etag_and_position_and_304s(client: TestClient, seeded: int) -> None:
    first = client.get("/v1/contested", params={"min_position": seeded})
    assert first.headers["cache-control"] == "no-cache"
    position = int(first.headers["x-projection-position"])
    assert position >= seeded
    etag = first.headers["etag"]
    again = client.get("/v1/contested", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.content == b""
    # A write that leaves the contested list as it was: still a 304, at the new position.
    post(client, {"place": "Manbij", "actor": "SDF", "occurred_at": "2017-03-01"})
    elsewhere = post(client, {"place": "Tadmur", "actor": "SAA", "occurred_at": "2017-03-02"})
    same = client.get("/v1/contested", params={"min_position": elsewhere}, headers={"If-None-Match": etag})
    assert (same.status_code, same.headers["etag"]) == (304, etag)
    assert int(same.headers["x-projection-position"]) >= elsewhere
    # One that changes it: a new answer and a new ETag.
    later = post(client, {"place": "Manbij", "actor": "IS", "share": 30, "occurred_at": "2017-03-03"})
    moved = client.get("/v1/contested", params={"min_position": later}, headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.headers["etag"] != etag
    assert int(moved.headers["x-projection-position"]) >= later


def test_contested_is_ordered_by_the_second_largest_share(client: TestClient, seeded: int) -> None:
    position = post(
        client,
        {
            "place": "Hajin",
            "country": "SY",
            "location": {"lat": 34.69, "lon": 40.83},
            "actor": "SDF",
            "share": 55,
            "occurred_at": "2018-10-01",
        },
        {
            "place": "Hajin",
            "country": "SY",
            "location": {"lat": 34.69, "lon": 40.83},
            "actor": "IS",
            "share": 45,
            "occurred_at": "2018-10-02",
        },
    )
    contested = get(client, "/v1/contested", position)["items"]
    seconds = [c["control"][1]["share"] for c in contested]
    assert seconds == sorted(seconds, reverse=True)
    ids = [c["place_id"] for c in contested]
    assert ids.index("hajin-sy") < ids.index("albu-kamal-sy")  # 45 before 40
    assert all(c["status"] == "contested" for c in contested)


def test_contested_pages_walk_the_list_in_order_ties_by_place_id(client: TestClient, seeded: int) -> None:
    towns = [("Mayadin", 34.99, 40.45), ("Al-Qaim", 34.37, 41.09), ("Hit", 33.64, 42.82)]
    position = post(
        client,
        *(
            {"place": n, "location": {"lat": lat, "lon": lon}, "actor": a, "share": s, "occurred_at": d}
            for n, lat, lon in towns
            for a, s, d in (("SAA", 70, "2019-01-01"), ("IS", 30, "2019-01-02"))
        ),
    )
    walked, cursor = [], None
    while True:
        page = get(client, "/v1/contested", position, limit=1, **({"cursor": cursor} if cursor else {}))
        walked += [(p["place_id"], p["control"][1]["share"]) for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    whole = [
        (p["place_id"], p["control"][1]["share"]) for p in get(client, "/v1/contested", position)["items"]
    ]
    # The current list is cut in SQL; the time-travel path sorts in Python: both orders agree.
    travelled = get(client, "/v1/contested", position, as_of="2999")["items"]
    assert walked == whole == [(p["place_id"], p["control"][1]["share"]) for p in travelled]
    assert whole == sorted(whole, key=lambda item: (-item[1], item[0]))
    assert len([w for w in whole if w[1] == 30.0]) >= 3  # the tie is broken by place id


def test_as_of_answers_what_was_true_then(client: TestClient, seeded: int) -> None:
    before = get(client, "/v1/places/albu-kamal-sy", seeded, as_of="2017-11-07")
    taken = get(client, "/v1/places/albu-kamal-sy", seeded, as_of="2017-11-09")
    split = get(client, "/v1/places/albu-kamal-sy", seeded, as_of="2017-11")
    assert (before["status"], before["control"]) == ("unknown", [])
    assert (taken["status"], shares(taken)) == ("controlled", {"syrian-arab-army": 100.0})
    assert (split["status"], shares(split)) == (
        "contested",
        {"syrian-arab-army": 60.0, "islamic-state": 40.0},
    )
    assert taken["as_of"] == "2017-11-09"


def test_a_late_report_slots_into_the_past_and_known_at_shows_what_was_known(client: TestClient) -> None:
    first = post(client, {"place": "Palmyra", "actor": "SAA", "occurred_at": "2017-03-02"})
    recorded_between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    late = post(client, {"place": "Palmyra", "actor": "IS", "share": 100, "occurred_at": "2016-12-11"})
    now = get(client, "/v1/places/tadmur-sy", late)
    assert shares(now) == {"syrian-arab-army": 100.0}  # the late, earlier claim did not override
    in_2017_01 = get(client, "/v1/places/tadmur-sy", late, as_of="2017-01")
    assert shares(in_2017_01) == {"islamic-state": 100.0}
    known_then = get(client, "/v1/places/tadmur-sy", late, as_of="2017-01", known_at=recorded_between)
    assert known_then["status"] == "unknown"  # IS's hold was not reported yet
    assert first < late


def test_places_filters_and_cursor_paging(client: TestClient, seeded: int) -> None:
    syria = get(client, "/v1/places", seeded, country="SY")["items"]
    assert syria and all(p["country"] == "SY" for p in syria)
    held_by_is = get(client, "/v1/places", seeded, actor="islamic-state")["items"]
    assert "albu-kamal-sy" in [p["place_id"] for p in held_by_is]
    assert all("islamic-state" in shares(p) for p in held_by_is)
    assert [p["place_id"] for p in get(client, "/v1/places", seeded, q="bukamal")["items"]] == [
        "albu-kamal-sy"
    ]
    controlled = get(client, "/v1/places", seeded, status="controlled")["items"]
    assert controlled and all(p["status"] == "controlled" for p in controlled)
    walked, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = get(client, "/v1/places", seeded, **params)
        walked += [p["place_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = [p["place_id"] for p in get(client, "/v1/places", seeded, limit=1000)["items"]]
    assert walked == everything == sorted(everything)


def test_actors_hold_places_and_population(client: TestClient, seeded: int) -> None:
    islamic_state = get(client, "/v1/actors/islamic-state", seeded)
    abu_kamal = next(p for p in islamic_state["places"] if p["place_id"] == "albu-kamal-sy")
    assert abu_kamal["share"] == 40.0
    assert abu_kamal["population_controlled"] == round(57572 * 0.4)
    assert islamic_state["population_controlled"] == sum(
        p["population_controlled"] for p in islamic_state["places"]
    )
    everyone = get(client, "/v1/actors", seeded, limit=1000)["items"]
    assert {"islamic-state", "syrian-arab-army", "peshmerga"} <= {a["actor_id"] for a in everyone}
    assert client.get("/v1/actors/nobody").status_code == 404


def test_geojson_is_rfc_7946_with_abu_kamal_where_it_is(client: TestClient, seeded: int) -> None:
    response = client.get("/v1/places.geojson", params={"min_position": seeded})
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = FeatureCollection.model_validate(response.json())
    abu_kamal = next(f for f in collection.features if f.id == "albu-kamal-sy")
    lon, lat = abu_kamal.geometry.coordinates  # type: ignore[union-attr,misc]
    assert abs(lon - 40.9) < 0.05 and abs(lat - 34.45) < 0.05
    assert abu_kamal.properties["place_id"] == "albu-kamal-sy"  # type: ignore[index]
    assert abu_kamal.properties["status"] == "contested"  # type: ignore[index]


def test_changes_and_events_feeds(client: TestClient, seeded: int) -> None:
    changed = get(client, "/v1/changes", seeded, after=seeded - 1)["items"]
    assert [c["place_id"] for c in changed] == ["rawah-iq"] or all(
        c["position"] > seeded - 1 for c in changed
    )
    assert all(c["position"] > seeded - 1 for c in changed)
    events = client.get("/v1/events", params={"after": 0, "limit": 3}).json()
    assert [e["position"] for e in events["items"]] == sorted(e["position"] for e in events["items"])
    assert events["items"][0]["type"] == "ControlChanged"
    following = client.get("/v1/events", params={"cursor": events["next_cursor"], "limit": 3}).json()
    assert following["items"][0]["position"] > events["items"][-1]["position"]


def test_history_lists_the_places_claims_oldest_first(client: TestClient, seeded: int) -> None:
    history = get(client, "/v1/places/albu-kamal-sy/history", seeded)["items"]
    assert [h["occurred_at"] for h in history][:2] == ["2017-11-08", "2017-11-10"]
    assert history[1]["share"] == 40.0 and history[1]["retracted"] is False
    assert history[1]["corrections"] == []


def test_min_position_not_reached_is_a_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_routes, "MIN_POSITION_WAIT", 0.3)
    response = client.get("/v1/contested", params={"min_position": 10**12})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/places/nowhere-xx", {}, 404),
        ("/v1/places", {"as_of": "2017-13-45"}, 422),
        ("/v1/places", {"limit": 0}, 422),
        ("/v1/places", {"limit": 1001}, 422),
        ("/v1/places", {"status": "burning"}, 422),
        ("/v1/places", {"cursor": "not-a-cursor!"}, 400),
        ("/v1/actors", {"cursor": paging.encode([{}])}, 400),
        ("/v1/contested", {"cursor": paging.encode(["40", "x"])}, 400),
        ("/v1/places/albu-kamal-sy/history", {"cursor": paging.encode(["not a time", 3])}, 400),
        ("/v1/changes", {"after": -1}, 422),
        ("/v1/contested", {"min_position": ""}, 422),
        ("/v1/events", {"after": ""}, 422),
        # PostgreSQL text cannot hold a NUL: the client's mistake, not a database error (a 500).
        ("/v1/places/albu-kamal-sy%00", {}, 400),
        ("/v1/places/a%00b/history", {}, 400),
        ("/v1/places", {"actor": "\x00"}, 400),
        ("/v1/places.geojson", {"q": "Ra\x00qa"}, 400),
        ("/v1/contested", {"min_position": "\u00b2"}, 422),  # a digit to isdigit(), not to int()
        ("/v1/places/albu-kamal-sy", {"min_position": "\u0661\u0662"}, 422),  # Arabic-Indic 12
    ],
)
def test_bad_reads_are_problems(client: TestClient, path: str, params: dict[str, Any], status: int) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_pages_follow_code_point_order_whatever_the_database_collation(
    fresh_pg_url: str, cache_dir: Path
) -> None:
    """Pages are cut in SQL and cursors compared in Python: both must order place ids alike. Under
    an en_US collation (the official postgres image's default) PostgreSQL ignores hyphens at first
    and puts "albu-kamal-sy" before "al-qaim-iq"; by code point it comes after."""
    engine = sa.create_engine(fresh_pg_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # glibc's en_US ignores punctuation at first; ICU does when told
        conn.execute(sa.text("CREATE COLLATION en_us (provider = icu, locale = 'en-US-u-ka-shifted')"))
        conn.execute(sa.text("ALTER TABLE places ALTER COLUMN place_id TYPE varchar(200) COLLATE en_us"))
        assert conn.execute(sa.text("SELECT 'albu-kamal-sy' < 'al-qaim-iq' COLLATE en_us")).scalar()
    engine.dispose()
    with TestClient(create_app(settings_for(fresh_pg_url, cache_dir, reconcile_interval=0.2))) as client:
        position = post(
            client,
            *(
                {"place": name, "actor": actor, "share": share, "occurred_at": day}
                for name in ("Abu Kamal", "Al-Qaim", "Al Mayadin")
                for actor, share, day in (("SAA", 100, "2019-01-01"), ("IS", 25, "2019-01-02"))
            ),
        )
        for path in ("/v1/places", "/v1/contested"):
            walked, cursor = [], None
            while True:
                page = get(client, path, position, limit=1, **({"cursor": cursor} if cursor else {}))
                walked += [p["place_id"] for p in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert walked == sorted(walked)  # code point order: every place, none twice
            assert {"al-qaim-iq", "albu-kamal-sy"} <= set(walked)
            assert len(walked) == len(set(walked))


def test_a_fault_in_the_fast_path_falls_back_to_the_routes(
    client: TestClient, seeded: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path sits outside the framework's error handling: it must never be the one to fail.
    from services.api import fastpath

    def broken(*_: object) -> str:
        raise RuntimeError("a bug in the fast path")

    get(client, "/v1/places/albu-kamal-sy", seeded)  # projected and cached: the fast path's to serve
    monkeypatch.setattr(fastpath, "request_key", broken)
    response = client.get("/v1/places/albu-kamal-sy")
    assert response.status_code == 200
    assert response.json()["place_id"] == "albu-kamal-sy"
    assert response.headers["x-request-id"]
