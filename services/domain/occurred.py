"""Times at their stated precision: `2017`, `2017-07`, `2017-11-03` or a full timestamp.

A report rarely knows the minute a town changed hands, so `occurred_at` keeps the precision it was
given. Events order by the start of their period; a bound given as a period (`as_of=2017-11-09`)
means the end of that period, inclusive.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.domain.errors import InvalidTime

Precision = Literal["year", "month", "day", "timestamp"]

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True, order=False)
class OccurredAt:
    """A point or period in time as a report states it."""

    text: str
    precision: Precision
    start: datetime  # timezone-aware, UTC

    def end(self) -> datetime:
        """The exclusive end of the period (a timestamp is a period of one microsecond).

        The last period a datetime can hold (9999, 9999-12-31, ...) ends at `datetime.max`, the
        one microsecond short of its true end no read can tell apart.
        """
        try:
            return self._end()
        except (ValueError, OverflowError):
            return datetime.max.replace(tzinfo=UTC)

    def _end(self) -> datetime:
        s = self.start
        if self.precision == "year":
            return s.replace(year=s.year + 1)
        if self.precision == "month":
            return s.replace(year=s.year + 1, month=1) if s.month == 12 else s.replace(month=s.month + 1)
        if self.precision == "day":
            return s + timedelta(days=1)
        return s + timedelta(microseconds=1)

    def __str__(self) -> str:
        return self.text


@functools.lru_cache(maxsize=16_384)
def parse_occurred(value: str) -> OccurredAt:
    """Parse ISO 8601 at year, month, day or timestamp precision; a time with no zone is UTC.

    Raises InvalidTime for anything else, including impossible dates such as `2017-13-45`.
    Remembered: the log repeats a few thousand dates millions of times (every holding's `since`
    is parsed back when a state is read), and an OccurredAt is immutable.
    """
    text = value.strip()
    try:
        if m := _YEAR.match(text):
            return OccurredAt(text, "year", datetime(int(m[1]), 1, 1, tzinfo=UTC))
        if m := _MONTH.match(text):
            return OccurredAt(text, "month", datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC))
        if m := _DAY.match(text):
            return OccurredAt(text, "day", datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC))
        return _parse_timestamp(text)
    except (ValueError, OverflowError) as exc:
        raise InvalidTime(f"{value!r} is not a valid ISO 8601 date or time ({exc})") from None


def _parse_timestamp(text: str) -> OccurredAt:
    if "T" not in text and " " not in text:
        raise ValueError("expected YYYY, YYYY-MM, YYYY-MM-DD or a full timestamp")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        instant = parsed.replace(tzinfo=UTC)
    else:
        try:
            instant = parsed.astimezone(UTC)
        except OverflowError:
            # Say why, rather than "date value out of range": the time exists, but in UTC it
            # falls before year 1 (or after 9999), which no ISO 8601 four-digit year can write.
            raise ValueError("in UTC it falls outside the years 0001 to 9999") from None
    return OccurredAt(format_timestamp(instant), "timestamp", instant)


def format_timestamp(instant: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, microseconds only when present; the year always has four
    digits (`0999-06-01T00:00:00Z`: strftime's `%Y` would write `999`, which no parser reads back)."""
    utc = instant.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def from_parts(text: str, start: datetime) -> OccurredAt:
    """An OccurredAt from its normalised text and its start as stored, without re-parsing."""
    length = len(text)
    precision: Precision = (
        "year" if length == 4 else "month" if length == 7 else "day" if length == 10 else "timestamp"
    )
    return OccurredAt(text, precision, start)


def upper_bound(value: str) -> datetime:
    """The exclusive instant bound of an `as_of` or `known_at`: the end of the period given."""
    return parse_occurred(value).end()
