"""The ACLED mapping, row by row (no I/O): which rows are claims, and what each column becomes."""

from __future__ import annotations

import pytest

from services.acled.actors import ActorMap, ActorMapError, split_abbreviation, without_period
from services.acled.countries import countries
from services.acled.rows import TERRITORIAL, Mapped, Refused, Skipped, map_row, occurred_at
from tests.support.acled import EVENT_TYPES, row

ACTORS = ActorMap.load()


def mapped(**fields: object) -> Mapped:
    outcome = map_row(row("SYR1", **fields), ACTORS, countries())  # type: ignore[arg-type]
    assert isinstance(outcome, Mapped), outcome
    return outcome


def refused(**fields: object) -> str:
    outcome = map_row(row("SYR1", **fields), ACTORS, countries())  # type: ignore[arg-type]
    assert isinstance(outcome, Refused), outcome
    return outcome.reason


@pytest.mark.parametrize("sub_event_type", sorted(EVENT_TYPES))
def test_only_changes_of_territory_are_claims(sub_event_type: str) -> None:
    outcome = map_row(row("X1", sub_event_type), ACTORS, countries())
    if sub_event_type in TERRITORIAL:
        assert isinstance(outcome, Mapped)
    else:
        assert outcome == Skipped(sub_event_type)


def test_a_territorial_row_is_one_report_of_one_claim() -> None:
    out = mapped(assoc_actor_1="NDF: National Defence Forces; Military Forces of Russia (2000-)")
    assert out.body == {
        "id": "acled:SYR1",
        "source": {"name": "SANA; SOHR", "published_at": "2017-11-10T00:00:00Z"},
        "claims": [
            {
                "place": "Abu Kamal",
                "country": "SY",
                "location": {"lat": 34.4506, "lon": 40.9171},
                "actor": "syrian-arab-army",
                "share": 100.0,
                "from_actor": "islamic-state",
                "occurred_at": "2017-11-08",
                "supporting_actors": ["NDF: National Defence Forces", "Military Forces of Russia"],
                "note": "On 8 November 2017, regime forces took the town.",
            }
        ],
    }
    assert out.unmapped == ("NDF: National Defence Forces", "Military Forces of Russia")
    assert out.admin == {"admin1": "Deir-ez-Zor", "admin2": "Al Mayadin", "admin3": "Abu Kamal"}


@pytest.mark.parametrize(
    ("event_date", "precision", "expected"),
    [
        ("08 December 2024", "1", "2024-12-08"),
        ("8 December 2024", "2", "2024-12-08"),
        ("2024-12-08", "1", "2024-12-08"),
        ("2024-12-08", "2", "2024-12-08"),
        ("08 December 2024", "3", "2024-12"),
        ("2024-12-08", "3", "2024-12"),
    ],
)
def test_event_date_in_either_form_at_the_rows_precision(
    event_date: str, precision: str, expected: str
) -> None:
    assert occurred_at(event_date, precision) == expected


def test_bad_dates_and_precisions_are_refused_with_the_reason() -> None:
    assert "neither" in refused(event_date="12/08/2024")
    assert "unknown month" in refused(event_date="08 Decembre 2024")
    assert "time_precision" in refused(time_precision="4")


def test_rows_that_cannot_be_claims_are_refused() -> None:
    assert refused(location="") == "no location"
    assert "same-actor transfer" in refused(actor2="Military Forces of Syria (2011-2024)")
    assert "unknown country" in refused(country="Atlantis")
    assert "not numbers" in refused(latitude="north")


def test_no_actor2_is_a_claim_without_from_actor_and_a_supporting_actor_is_never_the_actor() -> None:
    supporters = "Military Forces of Syria (2000-2024); SDF: Syrian Democratic Forces"
    out = mapped(actor2="", assoc_actor_1=supporters)
    claim = out.body["claims"][0]
    assert "from_actor" not in claim
    assert claim["supporting_actors"] == ["syrian-democratic-forces"]


def test_the_shipped_map_knows_the_issues_examples_whatever_their_period() -> None:
    assert ACTORS.actor_for("Military Forces of Syria (2000-2024)") == "syrian-arab-army"
    assert ACTORS.actor_for("military forces of syria") == "syrian-arab-army"
    assert ACTORS.actor_for("Islamic State (Syria)") == "islamic-state"
    assert ACTORS.actor_for("SDF: Syrian Democratic Forces") == "syrian-democratic-forces"
    assert ACTORS.actor_for("HTS: Hayat Tahrir al Sham") is None


def test_actor_names_lose_their_period_and_split_their_abbreviation() -> None:
    assert without_period("Military Forces of Syria (2000-2024)") == "Military Forces of Syria"
    assert without_period("Military Forces of Russia (2000-)") == "Military Forces of Russia"
    assert without_period("Islamic State (Syria)") == "Islamic State (Syria)"
    assert split_abbreviation("HTS: Hayat Tahrir al Sham") == ("Hayat Tahrir al Sham", "HTS")
    assert split_abbreviation("Islamic State (Syria)") == ("Islamic State (Syria)", None)


def test_an_actor_map_names_each_acled_name_once() -> None:
    table = ActorMap.parse({"a": {"acled": ["X (2000-2010)"]}, "b": {"acled": ["Y"]}}, "test")
    assert table.actor_for("x") == "a"
    with pytest.raises(ActorMapError, match="mapped to a and b"):
        ActorMap.parse({"a": {"acled": ["X"]}, "b": {"acled": ["X (1990-)"]}}, "test")
    with pytest.raises(ActorMapError, match="needs"):
        ActorMap.parse({"a": ["X"]}, "test")


@pytest.mark.parametrize(
    ("name", "iso", "code"),
    [
        ("Syria", "760", "SY"),
        ("Iraq", "", "IQ"),
        ("Democratic Republic of Congo", "180", "CD"),
        ("Palestine", "275", "PS"),
        ("eSwatini", "748", "SZ"),
        ("Somewhere Renamed", "804", "UA"),  # the numeric code answers for a name nobody knows
    ],
)
def test_country_names_become_iso_codes(name: str, iso: str, code: str) -> None:
    assert countries().code(name, iso) == code
