from pathlib import Path

import pytest

from services import gazetteer
from services.domain.places import Location
from tests.support.databases import shared_cache_dir


@pytest.fixture(scope="module")
def gz() -> gazetteer.Gazetteer:
    return gazetteer.load(["IQ", "SY"], shared_cache_dir())


@pytest.mark.parametrize(
    ("name", "place_id"),
    [
        ("Abu Kamal", "albu-kamal-sy"),
        ("Albu Kamal", "albu-kamal-sy"),
        ("Al-Bukamal", "albu-kamal-sy"),
        ("ALBU KAMAL", "albu-kamal-sy"),
        ("Rawa", "rawah-iq"),
        ("Tall Afar", "tall-afar-iq"),
        ("Kobani", "ayn-al-arab-sy"),
        ("Palmyra", "tadmur-sy"),
        ("Tadmur", "tadmur-sy"),
        ("al-Qaim", "al-qaim-iq"),
        ("Deir ez-Zor", "deir-ez-zor-sy"),
        ("Mosul", "mosul-iq"),
        ("Raqqa", "ar-raqqah-sy"),
    ],
)
def test_the_regions_towns_resolve_without_registration(
    gz: gazetteer.Gazetteer, name: str, place_id: str
) -> None:
    assert place_id in [p.place_id for p in gz.lookup(name)]


def test_entries_carry_coordinates_and_population(gz: gazetteer.Gazetteer) -> None:
    abu_kamal = gz.get("albu-kamal-sy")
    assert abu_kamal is not None
    assert abu_kamal.location == Location(34.45226, 40.91854)
    assert abu_kamal.population and abu_kamal.population > 50_000
    assert abu_kamal.country == "SY"


def test_only_the_configured_countries_are_indexed(gz: gazetteer.Gazetteer) -> None:
    assert {p.country for p in gz.places} == {"IQ", "SY"}


def test_the_index_is_built_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = gazetteer.load(["IQ"], tmp_path)
    assert len(list(tmp_path.glob("gazetteer-*.json"))) == 1

    def refuse(countries: list[str]) -> None:
        raise AssertionError("the full dataset was parsed again")

    monkeypatch.setattr(gazetteer, "_build", refuse)
    again = gazetteer.load(["IQ"], tmp_path)
    assert again.places == built.places
    assert {p.country for p in again.places} == {"IQ"}
