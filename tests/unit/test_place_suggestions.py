"""Unknown place names and their "did you mean" suggestions: the search is bounded per request.

A search costs milliseconds (the gazetteer's thousands of names and aliases); a report of a thousand
made-up names once took ten seconds of the report writer's only thread. Nothing here needs the
database: an unknown name without country and location never reaches it.
"""

from __future__ import annotations

from typing import Any

import pytest

from services import gazetteer
from services.domain.errors import Unresolved
from services.ingest.resolution import SUGGESTED_IN_BATCH, SUGGESTED_PLACES, PlaceQuery, PlaceResolver
from tests.support.databases import shared_cache_dir


@pytest.fixture(scope="module")
def gz() -> gazetteer.Gazetteer:
    return gazetteer.load(["IQ", "SY"], shared_cache_dir())


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the gazetteer is asked to suggest for, in order."""
    asked: list[str] = []
    suggest = gazetteer.Gazetteer.suggest

    def counted(self: gazetteer.Gazetteer, name: str, country: str | None, limit: int = 5) -> list[str]:
        asked.append(name)
        return suggest(self, name, country, limit)

    monkeypatch.setattr(gazetteer.Gazetteer, "suggest", counted)
    return asked


def resolver(gz: gazetteer.Gazetteer) -> PlaceResolver:
    conn: Any = None  # an unknown name without a country and a location reads nothing
    return PlaceResolver(conn, gz)


def unresolved(places: PlaceResolver, name: str) -> Unresolved:
    with pytest.raises(Unresolved) as caught:
        places.resolve(PlaceQuery(name, None, None))
    return caught.value


def test_a_typo_gets_the_names_spelled_like_it(gz: gazetteer.Gazetteer) -> None:
    assert "Mosul" in unresolved(resolver(gz), "Mosull").suggestions


def test_a_request_gets_suggestions_for_its_first_unknown_names_only(
    gz: gazetteer.Gazetteer, searches: list[str]
) -> None:
    places = resolver(gz)
    answers = [unresolved(places, f"Mosull {n}") for n in range(1000)]
    assert len(searches) == SUGGESTED_PLACES
    assert all(a.searched and a.suggestions for a in answers[:SUGGESTED_PLACES])
    assert all(not a.searched and a.suggestions == [] for a in answers[SUGGESTED_PLACES:])
    assert [a.name for a in answers] == [f"Mosull {n}" for n in range(1000)]  # each is still an error


def test_an_unknown_name_named_again_is_searched_once(gz: gazetteer.Gazetteer, searches: list[str]) -> None:
    places = resolver(gz)
    answers = [unresolved(places, "Mosull") for _ in range(1000)]
    assert searches == ["Mosull"]
    assert all(a.suggestions == answers[0].suggestions != [] for a in answers)


@pytest.mark.parametrize("verdict", ["discard", "accept"])
def test_each_request_of_a_batch_has_its_own_allowance(
    gz: gazetteer.Gazetteer, searches: list[str], verdict: str
) -> None:
    places = resolver(gz)
    for n in range(SUGGESTED_PLACES + 5):
        unresolved(places, f"Rawaa {n}")
    getattr(places, verdict)()  # the request ends (rejected or accepted); the next one begins
    assert unresolved(places, "Raqqqa").suggestions
    assert len(searches) == SUGGESTED_PLACES + 1


def test_a_batch_has_an_allowance_too(gz: gazetteer.Gazetteer, searches: list[str]) -> None:
    places = resolver(gz)
    answers = []
    for request in range(SUGGESTED_IN_BATCH // SUGGESTED_PLACES + 2):
        answers += [unresolved(places, f"Mosull {request}-{n}") for n in range(SUGGESTED_PLACES)]
        places.discard()
    assert len(searches) == SUGGESTED_IN_BATCH
    assert [a.searched for a in answers] == [n < SUGGESTED_IN_BATCH for n in range(len(answers))]


def test_a_name_searched_before_in_the_batch_costs_no_allowance(
    gz: gazetteer.Gazetteer, searches: list[str]
) -> None:
    places = resolver(gz)
    first = unresolved(places, "Mosull")
    places.discard()
    for n in range(SUGGESTED_PLACES):
        unresolved(places, f"Rawaa {n}")
    again = unresolved(places, "Mosull")  # past this request's allowance, but already searched
    assert again.searched and again.suggestions == first.suggestions
    assert unresolved(places, "Raqqqa").searched is False
    assert len(searches) == 1 + SUGGESTED_PLACES


def test_the_cached_names_of_a_country_are_the_ones_searched_before(gz: gazetteer.Gazetteer) -> None:
    """The gazetteer keys its names once per country; a search stays within the country."""
    iraq = {p.name for p in gz.places if p.country == "IQ"} | {
        a for p in gz.places if p.country == "IQ" for a in p.aliases
    }
    found = gz.suggest("Mosull", "IQ")
    assert found and set(found) <= iraq
    assert gz.suggest("Mosull", "IQ") == found


def test_a_town_is_suggested_once_by_its_spelling_nearest_the_name(gz: gazetteer.Gazetteer) -> None:
    """A town's name and aliases are all searched, but the answer names each town once: "did you
    mean Mosul?", not "Mosul, Mossul, Mosula, Mosulo, Moszul?" (five spellings of one town)."""
    (mosul,) = [p for p in gz.places if p.name == "Mosul"]
    assert {"Mossul", "Moszul"} <= set(mosul.aliases)  # near "Mosull" too, as the gazetteer spells it
    found = gz.suggest("Mosull", None)
    assert found[0] == "Mosul"
    assert not set(found[1:]) & {mosul.name, *mosul.aliases}
    towns = [gz.lookup(name) for name in found]
    assert len({p.place_id for entries in towns for p in entries}) >= len(found)
    # By the spelling nearest what was typed, when that is an alias: "Raqqa" for "Raqqqa", not the
    # gazetteer's own name of the town ("Ar Raqqah").
    assert gz.suggest("Raqqqa", None)[0] == "Raqqa"
