import pytest

from services.domain.names import name_key, nearest_names, slugify


@pytest.mark.parametrize(
    "variants",
    [
        ["Albu Kamal", "ALBU KAMAL", "Ālbū Kamāl", "albu-kamal", "Albu  Kamal."],
        ["Deir ez-Zor", "Deir Ez Zor", "DEIR EZ-ZOR", "Deir al-Zor", "Deir el Zor"],
        ["al-Qaim", "Al Qa'im", "Al Qā’im", "AL-QAIM", "the Qaim"],
        ["Tall Afar", "Tall ‘Afar", "Tall `Afar", "tall-afar"],
    ],
)
def test_spellings_a_reader_calls_the_same_share_a_key(variants: list[str]) -> None:
    assert len({name_key(v) for v in variants}) == 1


def test_different_places_keep_different_keys() -> None:
    assert name_key("Rawa") != name_key("Ruwandiz")
    assert name_key("Mosul") != name_key("Raqqa")


def test_slugs_are_url_safe_and_stable() -> None:
    assert slugify("Ālbū Kamāl") == "albu-kamal"
    assert slugify("Deir ez-Zor") == "deir-ez-zor"
    arabic = slugify("البو كمال")
    assert arabic.startswith("n-")
    assert arabic == slugify("البو كمال")


def test_nearest_names_suggests_close_spellings() -> None:
    assert nearest_names("Mosull", ["Mosul", "Raqqa", "Rawa"])[0] == "Mosul"
