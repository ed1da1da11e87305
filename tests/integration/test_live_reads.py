"""Reads while feeds write: an answer's ETag moves only when its content (or generation) does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_replay import run_replay
from tests.integration.test_stream import claim, post, start


@pytest.fixture
def stack(fresh_pg_url: str, cache_dir: Path) -> Iterator[tuple[str, httpx.Client]]:
    yield from start(fresh_pg_url, cache_dir)


def test_a_poller_of_an_untouched_place_keeps_getting_304s(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    watched = post(http, claim("Rawa", "ISF"))
    first = http.get("/v1/places/rawah-iq", params={"min_position": watched})
    etag = first.headers["etag"]
    answers = []
    for n, place in enumerate(["Mosul", "Raqqa", "Abu Kamal", "Tadmur", "al-Qaim"] * 2):
        position = post(http, claim(place, "SAA" if n % 2 else "IS", day=n + 1))
        waited = http.get(
            "/v1/places/rawah-iq", params={"min_position": position}, headers={"If-None-Match": etag}
        )
        polled = http.get("/v1/places/rawah-iq", headers={"If-None-Match": etag})
        answers += [waited.status_code, polled.status_code]
        assert int(waited.headers["x-projection-position"]) >= position
        assert waited.headers["etag"] == etag
    assert answers == [304] * 20


def test_a_touched_place_and_a_replay_move_the_etag(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    watched = post(http, claim("Rawa", "ISF"))
    etag = http.get("/v1/places/rawah-iq", params={"min_position": watched}).headers["etag"]
    touched = post(http, claim("Rawa", "IS", 20, day=3, from_actor="ISF"))
    moved = http.get("/v1/places/rawah-iq", params={"min_position": touched}, headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    before_replay = moved.headers["etag"]
    run_replay(http)
    replayed = http.get("/v1/places/rawah-iq", headers={"If-None-Match": before_replay})
    deadline_answers = [replayed]
    for _ in range(50):  # the replay's new generation reaches this process within its poll
        if replayed.status_code == 200:
            break
        replayed = http.get("/v1/places/rawah-iq", headers={"If-None-Match": before_replay})
        deadline_answers.append(replayed)
    assert replayed.status_code == 200, [a.status_code for a in deadline_answers]
    assert replayed.json() == moved.json()  # the same content, a new generation


def test_a_list_changes_its_etag_only_when_its_content_changes(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    post(http, claim("Abu Kamal", "SAA", day=8))
    split = post(http, claim("Abu Kamal", "IS", 40, day=10, from_actor="SAA"))
    etag = http.get("/v1/contested", params={"min_position": split}).headers["etag"]
    elsewhere = post(http, claim("Mosul", "ISF"))
    same = http.get("/v1/contested", params={"min_position": elsewhere}, headers={"If-None-Match": etag})
    assert same.status_code == 304
    changed = post(http, claim("Abu Kamal", "IS", 50, day=12, from_actor="SAA"))
    moved = http.get("/v1/contested", params={"min_position": changed}, headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag


HOLDERS = [("Abu Kamal", "SAA"), ("Mosul", "ISF"), ("Raqqa", "SDF")]


def test_a_write_joining_a_later_page_computes_nothing_for_the_first(
    fresh_pg_url: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from services.api import reads
    from services.api.contested import Contested
    from services.combined import create_app
    from tests.support.apps import settings_for
    from tests.support.workers import wait_until

    computed, remembered = reads.contested, Contested.page
    calls: list[int] = []  # pages computed, in SQL or from the list in memory

    def counted(ctx: reads.Context, after: Any, limit: int) -> Any:
        calls.append(limit)
        return computed(ctx, after, limit)

    def counted_page(self: Contested, after: Any, limit: int) -> Any:
        calls.append(limit)
        return remembered(self, after, limit)

    monkeypatch.setattr(reads, "contested", counted)
    monkeypatch.setattr(Contested, "page", counted_page)
    with TestClient(create_app(settings_for(fresh_pg_url, cache_dir, reconcile_interval=0.2))) as http:
        post(
            http, claim("Abu Kamal", "SAA", day=8), claim("Mosul", "ISF", day=8), claim("Raqqa", "SDF", day=8)
        )
        post(http, claim("Raqqa", "IS", 20, day=9, from_actor="SDF"))
        top = post(http, claim("Abu Kamal", "IS", 40, day=10, from_actor="SAA"))
        page = {"limit": 1, "min_position": top}
        first = http.get("/v1/contested", params=page)
        assert [p["place_id"] for p in first.json()["items"]] == ["albu-kamal-sy"]
        later = post(http, claim("Mosul", "IS", 10, day=10, from_actor="ISF"))  # joins page 3
        wait_until(lambda: noted(http) >= later, 10, "the cache to note the change")
        etag = {"If-None-Match": first.headers["etag"]}
        kept = http.get("/v1/contested", params=page | {"min_position": later}, headers=etag)
        assert kept.status_code == 304 and calls == [1]  # still fresh: not computed again
        ahead = post(http, claim("Raqqa", "IS", 45, day=11, from_actor="SDF"))  # moves to page 1
        wait_until(lambda: noted(http) >= ahead, 10, "the cache to note the change")
        assert calls == [1, 1]  # made again from memory as the change was noted
        moved = http.get("/v1/contested", params=page | {"min_position": ahead})
        assert calls == [1, 1] and [p["place_id"] for p in moved.json()["items"]] == ["ar-raqqah-sy"]


def noted(http: Any) -> int:
    """The log position up to which the app's answer cache has been told what changed."""
    from services.api.context import ReadSide
    from services.web.context import context_of

    return context_of(http.app).get(ReadSide).cache.current.position
