import pytest

from services.domain.actors import BUILT_IN, Actor, ActorIndex
from services.domain.errors import Unresolved

INDEX = ActorIndex(BUILT_IN)


@pytest.mark.parametrize(
    ("name", "actor_id"),
    [
        ("IS", "islamic-state"),
        ("ISIS", "islamic-state"),
        ("ISIL", "islamic-state"),
        ("Daesh", "islamic-state"),
        ("Islamic State", "islamic-state"),
        ("Iraqi forces", "iraqi-security-forces"),
        ("Iraqi army", "iraqi-security-forces"),
        ("ISF", "iraqi-security-forces"),
        ("Syrian Army", "syrian-arab-army"),
        ("SAA", "syrian-arab-army"),
        ("Syrian government forces", "syrian-arab-army"),
        ("SDF", "syrian-democratic-forces"),
        ("coalition", "us-led-coalition"),
        ("CJTF-OIR", "us-led-coalition"),
        ("U.S.-led coalition", "us-led-coalition"),
        ("Peshmerga", "peshmerga"),
        ("PMF", "popular-mobilization-forces"),
    ],
)
def test_built_in_aliases_resolve(name: str, actor_id: str) -> None:
    assert INDEX.resolve(name).actor_id == actor_id


def test_an_unknown_actor_is_refused_with_suggestions_never_guessed() -> None:
    with pytest.raises(Unresolved) as caught:
        INDEX.resolve("Syrian Armyy")
    assert "Syrian Army" in caught.value.suggestions


def test_clashes_name_the_taken_names() -> None:
    assert INDEX.clashes(Actor("new", "New Group", ("ISIS",))) == ["ISIS"]
    assert INDEX.clashes(Actor("hts", "Hayat Tahrir al-Sham", ("HTS",))) == []
