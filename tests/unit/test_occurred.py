from datetime import UTC, datetime

import pytest

from services.domain.errors import InvalidTime
from services.domain.occurred import parse_occurred, upper_bound


@pytest.mark.parametrize(
    ("text", "precision", "start"),
    [
        ("2017", "year", datetime(2017, 1, 1, tzinfo=UTC)),
        ("2017-07", "month", datetime(2017, 7, 1, tzinfo=UTC)),
        ("2017-11-03", "day", datetime(2017, 11, 3, tzinfo=UTC)),
        ("2017-11-03T10:15:00Z", "timestamp", datetime(2017, 11, 3, 10, 15, tzinfo=UTC)),
        ("2017-11-03T12:15:00+02:00", "timestamp", datetime(2017, 11, 3, 10, 15, tzinfo=UTC)),
        ("2017-11-03T10:15", "timestamp", datetime(2017, 11, 3, 10, 15, tzinfo=UTC)),
    ],
)
def test_precision_and_start_are_kept(text: str, precision: str, start: datetime) -> None:
    occurred = parse_occurred(text)
    assert occurred.precision == precision
    assert occurred.start == start


def test_timestamps_are_normalised_to_utc_text() -> None:
    assert parse_occurred("2017-11-03T12:15:00+02:00").text == "2017-11-03T10:15:00Z"
    assert parse_occurred("2017-11").text == "2017-11"


@pytest.mark.parametrize("text", ["2017-13-45", "2017-02-30", "2017-13", "17", "yesterday", "", "2017-1-3"])
def test_impossible_or_malformed_dates_are_refused(text: str) -> None:
    with pytest.raises(InvalidTime):
        parse_occurred(text)


@pytest.mark.parametrize(
    ("bound", "end"),
    [
        ("2017", datetime(2018, 1, 1, tzinfo=UTC)),
        ("2017-12", datetime(2018, 1, 1, tzinfo=UTC)),
        ("2017-11", datetime(2017, 12, 1, tzinfo=UTC)),
        ("2017-11-09", datetime(2017, 11, 10, tzinfo=UTC)),
    ],
)
def test_a_period_bound_means_the_end_of_the_period(bound: str, end: datetime) -> None:
    assert upper_bound(bound) == end


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00Z"),
        ("0001-01-01T00:00:00-12:00", "0001-01-01T12:00:00Z"),
        ("0042-03-04T05:06:07.000250+00:00", "0042-03-04T05:06:07.000250Z"),
        ("0999", "0999"),
    ],
)
def test_years_before_1000_keep_four_digits_and_parse_back(given: str, text: str) -> None:
    occurred = parse_occurred(given)
    assert occurred.text == text
    assert parse_occurred(occurred.text) == occurred


def test_a_time_before_year_1_in_utc_is_refused_with_its_reason() -> None:
    with pytest.raises(InvalidTime, match="outside the years 0001 to 9999"):
        parse_occurred("0001-01-01T00:00:00+01:00")


def test_the_last_periods_end_at_the_last_instant() -> None:
    assert upper_bound("9999") == datetime.max.replace(tzinfo=UTC)
    assert upper_bound("9999-12-31") == datetime.max.replace(tzinfo=UTC)
