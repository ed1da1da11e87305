"""Column types that behave the same on PostgreSQL and SQLite: each backend's own type, chosen by
SQLAlchemy per dialect (`with_variant`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class SqliteUTCText(sa.types.TypeDecorator[datetime]):
    """`UTCDateTime` on SQLite, which has no timestamp type: naive UTC ISO text, which keeps ordering
    and comparison right."""

    impl = sa.String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        # isoformat, not strftime: `%Y` drops the zero padding of years before 1000, and the
        # text would neither sort nor parse back.
        if value is None:
            return None
        return _in_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _in_utc(datetime.fromisoformat(value))


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, out and in comparisons, on both backends.

    PostgreSQL stores them as `timestamptz`, SQLite as `SqliteUTCText` (the impl's variant).
    """

    impl = sa.DateTime(timezone=True).with_variant(SqliteUTCText(), "sqlite")
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return None if value is None else _in_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _in_utc(value)


def _in_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive one is taken to be UTC already."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
