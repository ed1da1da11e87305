"""`GET /v1/stream`: every changed place state pushed once, in log order, resumable without loss."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.combined import create_app
from tests.integration.test_replay import run_replay
from tests.support.apps import INGEST, READ_KEY, live_server, settings_for
from tests.support.sse import Subscriber


def claim(place: str, actor: str, share: int = 100, day: int = 1, **more: Any) -> dict[str, Any]:
    return {"place": place, "actor": actor, "share": share, "occurred_at": f"2017-11-{day:02d}", **more}


def post(http: httpx.Client, *claims: dict[str, Any]) -> int:
    body = {"id": uuid.uuid4().hex, "source": {"name": "stream test"}, "claims": list(claims)}
    response = http.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def shares(place: dict[str, Any]) -> dict[str, float]:
    return {h["actor_id"]: h["share"] for h in place["control"]}


def start(url: str, cache_dir: Path, **overrides: Any) -> Iterator[tuple[str, httpx.Client]]:
    """The combined app (embedded projector) on a live server. Heartbeats come often: a
    subscriber's thread notices its own close only when the next bytes arrive."""
    settings = settings_for(url, cache_dir, reconcile_interval=0.2, **overrides)
    with live_server(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield base, http


@pytest.fixture
def stack(fresh_pg_url: str, cache_dir: Path) -> Iterator[tuple[str, httpx.Client]]:
    yield from start(fresh_pg_url, cache_dir, stream_heartbeat=0.3)


def test_each_change_comes_once_with_its_position_and_the_place_as_read(
    stack: tuple[str, httpx.Client],
) -> None:
    base, http = stack
    with Subscriber(base) as sub:
        first = post(http, claim("Abu Kamal", "SAA", day=8))
        sub.wait_for_position(first)
        second = post(http, claim("Abu Kamal", "IS", 40, day=10, from_actor="SAA"))
        sub.wait_for_position(second)
    assert [position for position, _ in sub.places()] == [first, second]
    position, place = sub.places()[-1]
    read = http.get(f"/v1/places/{place['place_id']}", params={"min_position": position}).json()
    assert place == read
    assert shares(place) == {"syrian-arab-army": 60, "islamic-state": 40}


def test_changes_to_one_place_projected_together_come_as_its_latest_state(
    stack: tuple[str, httpx.Client],
) -> None:
    """As in /v1/changes: a place changed twice before the stream reads the change feed is one
    event, its latest state (a dashboard showing current states misses nothing)."""
    base, http = stack
    with Subscriber(base) as sub:
        post(http, claim("Abu Kamal", "SAA", day=8))
        last = post(http, claim("Abu Kamal", "IS", 40, day=10, from_actor="SAA"))
        sub.wait_for_position(last)
    positions = [position for position, _ in sub.places()]
    assert positions == sorted(set(positions)) and positions[-1] == last
    assert shares(sub.places()[-1][1]) == {"syrian-arab-army": 60, "islamic-state": 40}


def test_a_resumed_stream_loses_nothing_and_repeats_nothing(stack: tuple[str, httpx.Client]) -> None:
    base, http = stack
    with Subscriber(base) as witness:  # connected throughout: it shows what the process has sent
        with Subscriber(base) as sub:
            seen = post(http, claim("Rawa", "ISF"))
            (event,) = sub.wait_for(1)
        assert int(event.id) == seen
        # Away: changes to three places, one of them twice (only its latest state is news).
        post(http, claim("Mosul", "ISF", day=2))
        post(http, claim("Raqqa", "SDF", day=3))
        away_last = post(http, claim("Mosul", "IS", 30, day=4, from_actor="ISF"))
        witness.wait_for_position(away_last)  # sent: what the resumed one missed is history now
    with Subscriber(base, headers={"Last-Event-ID": event.id}) as resumed:
        missed = resumed.wait_for(2)
        live = post(http, claim("Rawa", "IS", 10, day=5, from_actor="ISF"))
        resumed.wait_for(3)
        time.sleep(0.5)  # anything sent twice would have come by now
    got = resumed.places()
    positions = [p for p, _ in got]
    assert positions == sorted(set(positions)), "in log order, none twice"
    assert positions[-1] == live and len(got) == 3
    assert int(missed[-1].id) == away_last
    mosul = next(place for _, place in got if place["name"].startswith("Mosul"))
    assert shares(mosul) == {"iraqi-security-forces": 70, "islamic-state": 30}


def test_after_resumes_like_last_event_id(stack: tuple[str, httpx.Client]) -> None:
    base, http = stack
    first = post(http, claim("Rawa", "ISF"))
    second = post(http, claim("Raqqa", "SDF"))
    with Subscriber(base, params={"after": first, "min_position": second}) as sub:
        (event,) = sub.wait_for(1)
        assert int(event.id) == second
        with Subscriber(base, params={"after": 0}) as everything:
            assert [int(e.id) for e in everything.wait_for(2)] == [first, second]


def test_filters_are_those_of_the_place_list(stack: tuple[str, httpx.Client]) -> None:
    base, http = stack
    with (
        Subscriber(base, params={"country": "iq"}) as iraq,
        Subscriber(base, params={"actor": "SAA"}) as saa,
        Subscriber(base, params={"status": "contested"}) as contested,
        Subscriber(base) as everything,
    ):
        post(http, claim("Rawa", "ISF"), claim("Abu Kamal", "SAA", day=8))
        last = post(http, claim("Abu Kamal", "IS", 40, day=10, from_actor="SAA"))
        after_all = post(http, claim("Mosul", "ISF"))
        for sub in (saa, contested):
            sub.wait_for_position(last)
        for sub in (iraq, everything):
            sub.wait_for_position(after_all)
        time.sleep(0.3)  # anything a filter should have kept out would have come by now
    assert {p["country"] for _, p in iraq.places()} == {"IQ"}
    assert {p["place_id"] for _, p in iraq.places()} == {"rawah-iq", "mosul-iq"}
    assert {p["place_id"] for _, p in saa.places()} == {"albu-kamal-sy"}
    assert [pos for pos, _ in contested.places()] == [last]
    assert {p["place_id"] for _, p in everything.places()} == {"rawah-iq", "albu-kamal-sy", "mosul-iq"}


def test_unknown_actor_and_bad_resume_point_are_422(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    unknown = http.get("/v1/stream", params={"actor": "Nobody At All"})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    bad = http.get("/v1/stream", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422


def test_heartbeats_keep_an_idle_stream_talking(stack: tuple[str, httpx.Client]) -> None:
    base, _ = stack
    comments = 0
    with httpx.Client(base_url=base, timeout=10) as client, client.stream("GET", "/v1/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + 5
        for line in response.iter_lines():
            comments += line.startswith(":")
            if comments >= 2 or time.monotonic() > deadline:
                break
    assert comments >= 2


def test_a_replay_is_announced(stack: tuple[str, httpx.Client]) -> None:
    base, http = stack
    post(http, claim("Rawa", "ISF"))
    with Subscriber(base) as sub:
        status = run_replay(http)
        (replay,) = sub.wait_for(1, timeout=30, event="replay")
    assert status["status"] == "done"
    assert int(replay.id) >= 1


def test_a_client_away_across_a_replay_gets_the_replay_event_when_it_resumes(
    stack: tuple[str, httpx.Client],
) -> None:
    """The swap's `replay` event was sent while the client was away: resuming from before the
    swap, it gets that event first (so it reloads), then what it missed, nothing twice; resuming
    from after the swap, no reload is asked for."""
    base, http = stack
    with Subscriber(base) as witness:  # connected throughout: it shows what the process has sent
        with Subscriber(base) as sub:
            post(http, claim("Rawa", "ISF"))
            (seen,) = sub.wait_for(1)
        run_replay(http)  # while `sub` is away
        witness.wait_for(1, timeout=30, event="replay")
        after_swap = post(http, claim("Mosul", "ISF", day=2))
        witness.wait_for_position(after_swap)
    with Subscriber(base, headers={"Last-Event-ID": seen.id}) as resumed:
        resumed.wait_for_position(after_swap)
        time.sleep(0.5)  # anything sent twice would have come by now
    assert kinds(resumed) == [("replay", None), ("place", after_swap)]
    with Subscriber(base, headers={"Last-Event-ID": str(after_swap)}) as current:
        live = post(http, claim("Raqqa", "SDF", day=3))
        current.wait_for_position(live)
    assert kinds(current) == [("place", live)]


def test_a_process_started_after_a_replay_announces_it_to_clients_resuming_from_before(
    fresh_pg_url: str, cache_dir: Path
) -> None:
    """A read API that did not see the swap cannot know where it happened: it announces it to
    every client resuming from before its own start (a reload too many at worst, never one too few)."""
    for _, http in start(fresh_pg_url, cache_dir, stream_heartbeat=0.3):
        before = post(http, claim("Rawa", "ISF"))
        run_replay(http)
    for base, http in start(fresh_pg_url, cache_dir, stream_heartbeat=0.3):
        with Subscriber(base, headers={"Last-Event-ID": str(before - 1)}) as resumed:
            (replay,) = resumed.wait_for(1, event="replay")
            resumed.wait_for_position(before)
        assert kinds(resumed) == [("replay", None), ("place", before)]
        assert int(replay.id) >= before
        later = post(http, claim("Mosul", "ISF", day=2))
        with Subscriber(base, headers={"Last-Event-ID": str(later)}) as current:
            newest = post(http, claim("Raqqa", "SDF", day=3))
            current.wait_for_position(newest)
        assert kinds(current) == [("place", newest)]


def kinds(sub: Subscriber) -> list[tuple[str, int | None]]:
    """The events that came, as (kind, position of a place event)."""
    return [(e.event, int(e.id) if e.event == "place" else None) for e in sub.events if e.event != "message"]


def test_read_keys_apply(fresh_pg_url: str, cache_dir: Path) -> None:
    for base, http in start(fresh_pg_url, cache_dir, read_api_keys=[READ_KEY], stream_heartbeat=0.3):
        assert http.get("/v1/stream").status_code == 401
        with Subscriber(base, headers={"Authorization": f"Bearer {READ_KEY}"}) as sub:
            assert sub.status == 200
            post(http, claim("Rawa", "ISF"))
            sub.wait_for(1)


def test_the_stream_on_sqlite(fresh_sqlite_url: str, cache_dir: Path) -> None:
    for base, http in start(fresh_sqlite_url, cache_dir, stream_heartbeat=0.3):
        with Subscriber(base) as sub:
            position = post(http, claim("Rawa", "ISF"))
            (event,) = sub.wait_for(1)
        assert int(event.id) == position
