"""The answer cache: what stays fresh across a version step, ETags from content, single flight."""

from __future__ import annotations

import asyncio
from typing import Any

from services.api.cache import Entry, Listing, ReadCache
from services.api.position import Version

PLACE = frozenset(["rawah-iq"])


def touch(place_id: str, position: int, status: str = "controlled") -> tuple[int, dict[str, Any]]:
    return position, {"place_id": place_id, "status": status}


def cache_at(version: Version) -> ReadCache:
    cache = ReadCache()
    cache.note_changes(version, ())
    return cache


def test_an_answer_about_one_place_stays_fresh_while_other_places_change() -> None:
    cache = cache_at(Version(1, 10))
    cache.put("/v1/places/rawah-iq?", Version(1, 10), PLACE, b"{}", "application/json")
    cache.note_changes(Version(1, 12), [touch("mosul-iq", 11), touch("ar-raqqah-sy", 12)])
    entry, position = cache.lookup("/v1/places/rawah-iq?")
    assert entry is not None and position == 12  # known true at the new position
    cache.note_changes(Version(1, 13), [touch("rawah-iq", 13)])
    assert cache.lookup("/v1/places/rawah-iq?")[1] is None


def test_a_list_is_stale_after_any_step_and_a_replay_stales_everything() -> None:
    cache = cache_at(Version(1, 10))
    cache.put("/v1/contested?", Version(1, 10), None, b"[]", "application/json")
    cache.put("/v1/places/rawah-iq?", Version(1, 10), PLACE, b"{}", "application/json")
    assert cache.lookup("/v1/contested?")[1] == 10
    cache.note_changes(Version(1, 11), [touch("mosul-iq", 11)])
    assert cache.lookup("/v1/contested?")[1] is None
    cache.note_changes(Version(2, 11), ())
    assert cache.lookup("/v1/places/rawah-iq?")[1] is None


def test_an_answer_computed_ahead_of_the_noted_changes_stays_fresh_through_them() -> None:
    cache = cache_at(Version(1, 10))
    cache.put("/v1/places/rawah-iq?", Version(1, 15), PLACE, b"{}", "application/json")
    cache.note_changes(Version(1, 15), [touch("rawah-iq", 14)])  # already in the answer
    assert cache.lookup("/v1/places/rawah-iq?")[1] == 15


def test_the_etag_follows_the_content_and_the_generation() -> None:
    cache = cache_at(Version(1, 10))
    first = cache.put("/v1/contested?", Version(1, 10), None, b"[1]", "application/json")
    same = cache.put("/v1/contested?", Version(1, 11), None, b"[1]", "application/json")
    other = cache.put("/v1/contested?", Version(1, 12), None, b"[2]", "application/json")
    replayed = cache.put("/v1/contested?", Version(2, 12), None, b"[2]", "application/json")
    assert first.etag == same.etag != other.etag != replayed.etag
    assert len({first.etag, other.etag, replayed.etag}) == 3


def test_concurrent_misses_compute_once() -> None:
    cache = cache_at(Version(1, 10))
    computed = 0

    async def compute() -> Entry | None:
        nonlocal computed
        computed += 1
        await asyncio.sleep(0.05)  # the others arrive while it runs
        return cache.put("/v1/contested?", Version(1, 10), None, b"[]", "application/json")

    async def many() -> list[Entry | None]:
        return await asyncio.gather(*(cache.single_flight("/v1/contested?", compute) for _ in range(50)))

    answers = asyncio.run(many())
    assert computed == 1
    assert len({id(a) for a in answers}) == 1


def test_a_list_stays_fresh_until_a_change_alters_it() -> None:
    cache = cache_at(Version(1, 10))
    contested = Listing(frozenset(["albu-kamal-sy"]), lambda place: place["status"] == "contested")
    cache.put("/v1/contested?", Version(1, 10), contested, b"[]", "application/json")
    cache.note_changes(Version(1, 11), [touch("mosul-iq", 11)])  # controlled: not for this list
    assert cache.lookup("/v1/contested?")[1] == 11
    cache.note_changes(Version(1, 12), [touch("albu-kamal-sy", 12)])  # one it shows
    assert cache.lookup("/v1/contested?")[1] is None
    cache.put("/v1/contested?", Version(1, 12), contested, b"[]", "application/json")
    cache.note_changes(Version(1, 13), [touch("rawah-iq", 13, "contested")])  # one joining it
    assert cache.lookup("/v1/contested?")[1] is None


def test_no_answer_goes_out_from_before_one_already_given() -> None:
    cache = cache_at(Version(1, 10))
    cache.put("/v1/contested?", Version(1, 10), None, b"[]", "application/json")
    assert cache.lookup("/v1/contested?")[1] == 10
    # Another answer was computed from a newer snapshot, before the change feed said what moved.
    cache.put("/v1/places/rawah-iq?", Version(1, 12), PLACE, b"{}", "application/json")
    assert cache.lookup("/v1/contested?")[1] is None
    assert cache.lookup("/v1/places/rawah-iq?")[1] == 12


def test_a_list_computed_before_a_change_already_noted_is_not_fresh() -> None:
    cache = cache_at(Version(1, 10))
    contested = Listing(frozenset(["rawah-iq"]), lambda place: place["status"] == "contested")
    # Its snapshot is at 10; meanwhile Rawa stops being contested at 20 and that is noted first.
    cache.note_changes(Version(1, 20), [touch("rawah-iq", 20)])
    cache.put("/v1/contested?", Version(1, 10), contested, b"[rawah]", "application/json")
    cache.note_changes(Version(1, 30), [touch("mosul-iq", 30)])  # an unrelated later step
    assert cache.lookup("/v1/contested?")[1] is None


def test_a_list_computed_before_changes_that_do_not_alter_it_is_fresh_through_them() -> None:
    cache = cache_at(Version(1, 10))
    contested = Listing(frozenset(["albu-kamal-sy"]), lambda place: place["status"] == "contested")
    cache.note_changes(Version(1, 20), [touch("mosul-iq", 20)])
    cache.put("/v1/contested?", Version(1, 10), contested, b"[abu kamal]", "application/json")
    assert cache.lookup("/v1/contested?")[1] == 20


def test_a_parameter_given_twice_keys_the_answer_by_its_last_value() -> None:
    from services.api.cache import request_key

    twice = request_key("/v1/places", "status=contested&status=controlled")
    assert twice == request_key("/v1/places", "status=controlled")
    assert twice != request_key("/v1/places", "status=controlled&status=contested")


def test_the_cache_is_bounded_in_bytes_as_well_as_entries() -> None:
    cache = ReadCache(capacity=100, max_bytes=1000)
    cache.note_changes(Version(1, 10), ())
    for n in range(5):
        cache.put(
            f"/v1/places.geojson?as_of=201{n}", Version(1, 10), None, b"x" * 400, "application/geo+json"
        )
    kept = [n for n in range(5) if cache.lookup(f"/v1/places.geojson?as_of=201{n}")[0] is not None]
    assert kept == [3, 4]  # the oldest went first, and 800 bytes are kept of the 2,000 put


def contested_at(place_id: str, position: int, challenger: float) -> tuple[int, dict[str, Any]]:
    control = [{"actor_id": "saa", "share": 100 - challenger}, {"actor_id": "is", "share": challenger}]
    return position, {"place_id": place_id, "status": "contested", "control": control}


def test_a_place_joining_past_the_end_of_a_full_page_leaves_the_page_fresh() -> None:
    from services.api.reads import by_contest
    from services.api.routes import _page

    cache = cache_at(Version(1, 10))
    shown = [contested_at("albu-kamal-sy", 10, 40)[1], contested_at("rawah-iq", 10, 30)[1]]
    contested = lambda place: place["status"] == "contested"  # noqa: E731
    cache.put("/v1/contested?limit=2", Version(1, 10), _page(shown, True, contested, by_contest), b"[]", "j")
    cache.note_changes(Version(1, 11), [contested_at("mosul-iq", 11, 10)])  # joins a later page
    assert cache.lookup("/v1/contested?limit=2")[1] == 11
    cache.note_changes(Version(1, 12), [contested_at("raqqa-sy", 12, 35)])  # sorts before Rawa
    assert cache.lookup("/v1/contested?limit=2")[1] is None


def test_a_page_that_is_not_full_shows_every_place_joining_the_list() -> None:
    from services.api.reads import by_place_id
    from services.api.routes import _page

    cache = cache_at(Version(1, 10))
    listing = _page([{"place_id": "albu-kamal-sy"}], False, lambda place: True, by_place_id)
    cache.put("/v1/places?", Version(1, 10), listing, b"[]", "application/json")
    cache.note_changes(Version(1, 11), [touch("zummar-iq", 11)])  # last in order, but the page has room
    assert cache.lookup("/v1/places?")[1] is None
