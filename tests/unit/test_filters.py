from __future__ import annotations

import pytest

from services.api.filters import UnknownFilter, country_code
from services.web.problems import _plain_error


@pytest.mark.parametrize("value", ["SY", "sy", "Syria", "SYRIA", "SYR"])
def test_a_country_is_its_code_or_its_name(value: str) -> None:
    assert country_code(value) == "SY"


def test_an_unknown_country_is_refused_with_suggestions() -> None:
    with pytest.raises(UnknownFilter) as caught:
        country_code("Irak")
    assert caught.value.param == "country"
    assert "Iraq (IQ)" in caught.value.suggestions
    assert "no country is known as 'Irak'" in str(caught.value)


def test_a_malformed_time_parameter_is_explained_in_words() -> None:
    pattern_error = {"loc": ("query", "as_of"), "msg": "String should match pattern '^\\d{4}'", "type": "x"}
    assert _plain_error(pattern_error)["msg"].startswith(
        "as_of must be a date such as 2017, 2017-11 or 2017-11-09, or a timestamp"
    )
    body_error = {"loc": ("body", "as_of"), "msg": "Field required", "type": "missing"}
    assert _plain_error(body_error)["msg"] == "Field required"
