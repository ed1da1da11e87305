"""The contested list in memory: pages, following the changes, learning it behind them, a replay."""

from __future__ import annotations

import random
import threading
from typing import Any

import orjson

from services.api.cache import Listing, ReadCache, Renewal
from services.api.contested import Contested, ContestedMemory
from services.api.position import Version


def view(place_id: str, second: float | None, status: str = "contested") -> dict[str, Any]:
    """A place view as the read API shows it; `second`: the second holder's share (percent)."""
    control = [{"actor_id": "a", "share": 100 - (second or 0)}]
    if second is not None:
        control.append({"actor_id": "b", "share": second})
    return {"place_id": place_id, "status": status, "control": control}


def ids(page: dict[str, Any]) -> list[str]:
    return [item["place_id"] for item in page["items"]]


def memory_at(version: Version, *views: dict[str, Any]) -> ContestedMemory:
    memory = ContestedMemory()
    memory.learn(version, views)
    return memory


def test_pages_go_most_contested_first_then_by_place_id_with_cursors() -> None:
    memory = memory_at(Version(1, 5), view("b", 30), view("a", 30), view("c", 45.5), view("d", 10))
    known = memory.at_least(Version(1, 5))
    assert known is not None
    first = known.page(None, 2)
    assert ids(first) == ["c", "a"] and first["next_cursor"] is not None
    assert ids(known.page([3000, "a"], 2)) == ["b", "d"]
    assert known.page([3000, "a"], 2)["next_cursor"] is None
    assert ids(known.page([4550, "c"], 100)) == ["a", "b", "d"]


def test_changes_join_move_and_leave_the_list() -> None:
    memory = memory_at(Version(1, 5), view("a", 30), view("b", 20))
    memory.follow(Version(1, 7), [(6, view("a", None, "controlled")), (7, view("c", 40)), (7, view("b", 50))])
    known = memory.at_least(Version(1, 7))
    assert known is not None and ids(known.page(None, 10)) == ["b", "c"]
    assert memory.at_least(Version(1, 8)) is None  # not known that late yet


def test_states_older_than_what_was_learnt_are_ignored() -> None:
    memory = memory_at(Version(1, 9), view("a", 30))
    memory.follow(Version(1, 8), [(8, view("a", None, "controlled"))])  # read before the learning
    known = memory.at_least(Version(1, 9))
    assert known is not None and ids(known.page(None, 10)) == ["a"]


def test_a_replay_forgets_the_list() -> None:
    memory = memory_at(Version(1, 9), view("a", 30))
    memory.follow(Version(2, 9), ())
    assert memory.known is None and memory.at_least(Version(1, 0)) is None


def test_a_list_learnt_behind_the_noted_changes_takes_them_on() -> None:
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    cache.note_changes(Version(1, 8), [(6, view("a", None, "controlled")), (8, view("b", 20))])
    cache.learn_contested(Version(1, 5), [view("a", 30)])  # a snapshot read before the changes
    known = cache.contested.at_least(Version(1, 8))
    assert known is not None and ids(known.page(None, 10)) == ["b"]
    cache.note_changes(Version(1, 9), [(9, view("c", 50))])  # and follows the next ones
    known = cache.contested.at_least(Version(1, 9))
    assert known is not None and ids(known.page(None, 10)) == ["c", "b"]


def test_a_list_of_another_generation_is_not_learnt() -> None:
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    cache.learn_contested(Version(2, 5), [view("a", 30)])  # a replay the feed has not reached yet
    assert cache.contested.known is None


def test_a_page_altered_by_a_change_is_made_again_from_memory_as_the_change_is_noted() -> None:
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    cache.learn_contested(Version(1, 5), [view("a", 30), view("b", 20)])
    made: list[Version] = []

    def answer(least: Version) -> tuple[Version, dict[str, Any]] | None:
        known = cache.contested.at_least(least)
        if known is None:
            return None
        made.append(known.version)
        return known.version, known.page(None, 1)

    def depends(page: dict[str, Any]) -> Listing:
        return Listing(frozenset(ids(page)), lambda place: place["status"] == "contested")

    renewal = Renewal(answer, depends)
    first = answer(Version(1, 5))
    assert first is not None
    held = cache.put(
        "/v1/contested?limit=1", first[0], depends(first[1]), orjson.dumps(first[1]), "j", renewal
    )
    cache.note_changes(Version(1, 6), [(6, view("c", None, "controlled"))])  # not in the list
    assert made == [Version(1, 5)] and cache.lookup("/v1/contested?limit=1")[1] == 6
    cache.note_changes(Version(1, 7), [(7, view("c", 45))])  # joins it, first
    entry, position = cache.lookup("/v1/contested?limit=1")
    assert made == [Version(1, 5), Version(1, 7)] and position == 7
    assert entry is not None and ids(orjson.loads(entry.body)) == ["c"] and entry.etag != held.etag


def test_a_page_is_not_made_again_older_than_an_answer_given() -> None:
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    cache.learn_contested(Version(1, 5), [view("a", 30)])
    renewal = Renewal(
        lambda least: (
            (known.version, known.page(None, 1)) if (known := cache.contested.at_least(least)) else None
        ),
        lambda page: Listing(frozenset(ids(page)), lambda place: place["status"] == "contested"),
    )
    cache.put(
        "/v1/contested?", Version(1, 5), renewal.depends({"items": [view("a", 30)]}), b"[a]", "j", renewal
    )
    cache.put("/v1/places/x?", Version(1, 9), frozenset(["x"]), b"{}", "j")  # given at 9 by a query
    cache.note_changes(Version(1, 7), [(7, view("c", 45))])  # memory at 7 < 9: not made again
    entry, position = cache.lookup("/v1/contested?")
    assert entry is not None and entry.body == b"[a]" and position is None  # stale: computed on demand


def test_a_page_nobody_asked_for_since_it_was_made_is_not_made_again() -> None:
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    cache.learn_contested(Version(1, 5), [view("a", 30)])
    made = []

    def answer(least: Version) -> tuple[Version, dict[str, Any]] | None:
        made.append(least.position)
        known = cache.contested.at_least(least)
        return (known.version, known.page(None, 1)) if known is not None else None

    renewal = Renewal(answer, lambda page: Listing(frozenset(ids(page)), lambda _place: True))
    cache.put(
        "/v1/contested?", Version(1, 5), renewal.depends({"items": [view("a", 30)]}), b"[a]", "j", renewal
    )
    cache.note_changes(Version(1, 6), [(6, view("c", 45))])
    assert made == [] and cache.lookup("/v1/contested?")[1] is None  # stale, made when asked
    cache.note_changes(Version(1, 7), [(7, view("d", 45))])
    assert made == [] and cache.lookup("/v1/contested?")[1] is None  # still: the next read computes it


def test_the_list_of_an_old_generation_does_not_answer_after_one_of_the_new_was_given() -> None:
    memory = memory_at(Version(1, 100), view("a", 30))
    assert memory.at_least(Version(1, 100)) is not None
    assert memory.at_least(Version(2, 90)) is None  # a replay's answer went out: the old list is past


def test_a_computation_waits_briefly_for_the_changes_to_be_noted() -> None:
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    assert not cache.wait_noted(Version(1, 6), 0.01)
    noting = threading.Timer(0.05, cache.note_changes, (Version(1, 7), ()))
    noting.start()
    assert cache.wait_noted(Version(1, 6), 5)
    noting.join()


def test_the_order_kept_through_changes_is_the_order_sorted_afresh() -> None:
    rng = random.Random(7)
    memory = memory_at(Version(1, 0), *(view(f"p{n}", rng.choice([10, 20, 45.5])) for n in range(30)))
    for position in range(1, 200):
        status = rng.choice(["contested", "contested", "controlled"])
        place = view(f"p{rng.randrange(40)}", rng.choice([5, 10, 20, 45.5, 50]), status)
        memory.follow(Version(1, position), [(position, place)])
    known = memory.at_least(Version(1, 199))
    assert known is not None and len(known.views) > 10
    fresh = Contested.of(known.version, known.views.values())
    assert (known.keys, known.ordered) == (fresh.keys, fresh.ordered)


def test_lookups_are_served_the_page_as_it_was_while_it_is_made_again() -> None:
    """A renewal builds, encodes and hashes a page outside the cache's lock: the event loop's
    lookups meanwhile get the page as it was, at the position it was known true at, not a wait."""
    cache = ReadCache()
    cache.note_changes(Version(1, 5), ())
    cache.learn_contested(Version(1, 5), [view("a", 30)])
    started, release = threading.Event(), threading.Event()

    def answer(least: Version) -> tuple[Version, dict[str, Any]] | None:
        known = cache.contested.at_least(least)
        if known is None:
            return None
        if known.version.position > 5:  # the renewal, not the first fill
            started.set()
            assert release.wait(5)
        return known.version, known.page(None, 10)

    renewal = Renewal(
        answer, lambda page: Listing(frozenset(ids(page)), lambda place: place["status"] == "contested")
    )
    first = answer(Version(1, 5))
    assert first is not None
    key = "/v1/contested?"
    cache.put(key, first[0], renewal.depends(first[1]), orjson.dumps(first[1]), "j", renewal)
    assert cache.lookup(key)[1] == 5  # asked for: renewed when a change alters it
    noting = threading.Thread(target=cache.note_changes, args=(Version(1, 7), [(7, view("c", 45))]))
    noting.start()
    try:
        assert started.wait(5), "the renewal did not start"
        entry, position = cache.lookup(key)  # would block on the lock if the renewal held it
        assert entry is not None and ids(orjson.loads(entry.body)) == ["a"] and position == 5
        assert cache.current == Version(1, 7)  # the change is noted meanwhile
    finally:
        release.set()
        noting.join(5)
    entry, position = cache.lookup(key)
    assert entry is not None and ids(orjson.loads(entry.body)) == ["c", "a"] and position == 7
