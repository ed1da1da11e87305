from services.domain.places import Location, Place, choose_place, distance_km, named_as_claimed

ABU_KAMAL = Place("albu-kamal-sy", "Albu Kamal", "SY", location=Location(34.45, 40.92), population=57572)
QAIM = Place("al-qaim-iq", "Al Qaim", "IQ", location=Location(34.39, 40.99), population=74100)
SINJAR_IQ = Place("sinjar-iq", "Sinjar", "IQ", location=Location(36.32, 41.88), population=38294)
SINJAR_SY = Place("sinjar-sy", "Sinjar", "SY", location=Location(35.6, 36.8), population=None)


def test_country_narrows_the_candidates() -> None:
    assert choose_place([SINJAR_IQ, SINJAR_SY], "SY", None) == SINJAR_SY
    assert choose_place([SINJAR_IQ], "SY", None) is None


def test_location_picks_the_nearest() -> None:
    assert choose_place([SINJAR_IQ, SINJAR_SY], None, Location(35.5, 36.9)) == SINJAR_SY


def test_otherwise_the_most_populous_wins() -> None:
    assert choose_place([SINJAR_SY, SINJAR_IQ], None, None) == SINJAR_IQ


def test_distance_is_haversine() -> None:
    assert 8 < distance_km(ABU_KAMAL.location, QAIM.location) < 12  # type: ignore[arg-type]


def test_a_gazetteer_entry_takes_the_name_the_claim_used() -> None:
    entry = Place("albu-kamal-sy", "Ālbū Kamāl", "SY", aliases=("Abu Kamal", "Al-Bukamal"))
    named = named_as_claimed(entry, "Abu Kamal")
    assert (named.name, named.aliases) == ("Abu Kamal", ("Ālbū Kamāl", "Al-Bukamal"))
    assert (named.place_id, named.country) == (entry.place_id, entry.country)
    assert named_as_claimed(entry, "Ālbū Kamāl") is entry
