"""The PostgreSQL backend: set-based statements, advisory locks, COPY.

Chosen by `Database` for a `postgresql` URL; see `services.store.backend` for the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql

from services.domain.events import RecordedEvent, upgrade
from services.store.backend import ignoring_conflicts
from services.store.control_rows import Key

# Advisory-lock keys; the log's own lock is keyed in migration 0001.
REGISTRY_LOCK = 7340031999998


class PostgresBackend:
    name = "postgresql"

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return ignoring_conflicts(conn, table, postgresql.insert(table), rows)

    def lock_registry(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK})

    # The log and its requests.

    # The read models.

    def one_of(self, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
        # One array parameter: the same text for any count, prepared once per connection.
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
        # Binary COPY, several times faster than INSERT: psycopg writes each value in C as the
        # column's own type (asked of the server: in binary, PostgreSQL casts nothing), JSON by orjson.
        if not rows:
            return
        names = ", ".join(c.name for c in table.columns)
        with _driver(conn).cursor() as cursor:
            cursor.adapters.register_dumper(None, _BinaryJsonb)
            cursor.execute(f"SELECT {names} FROM {table.name} LIMIT 0")  # noqa: S608
            types = [column.type_code for column in cursor.description or ()]
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    def update_column(
        self,
        conn: sa.Connection,
        column: sa.Column[Any],
        key: sa.Column[Any],
        pairs: Sequence[tuple[Any, Any]],
    ) -> None:
        # The pairs travel as one JSON array: one constant statement, no array of values to escape.
        if not pairs:
            return
        value_type = column.type.dialect_impl(conn.dialect).compile(dialect=conn.dialect)
        conn.execute(
            sa.text(
                f"UPDATE {column.table.name} t SET {column.name} = v.value "  # noqa: S608
                f"FROM jsonb_to_recordset(:pairs) AS v(key text, value {value_type}) "
                f"WHERE t.{key.name} = v.key"
            ),
            {"pairs": Jsonb([{"key": k, "value": v} for k, v in pairs], dumps=orjson.dumps)},
        )

    def claims_before(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        c = claims.c
        return conn.execute(
            sa.text(
                f"SELECT b.place_id, c.occurred_start, c.position, c.state_after FROM {_BOUNDS} "  # noqa: S608
                f"JOIN LATERAL (SELECT occurred_start, position, state_after FROM {claims.name} c "
                "WHERE c.place_id = b.place_id AND NOT c.retracted "
                "AND (c.occurred_start, c.position) < (b.s, b.pos) "
                "ORDER BY c.occurred_start DESC, c.position DESC LIMIT 1) c ON true"
            ).columns(sa.column("place_id"), c.occurred_start, c.position, c.state_after),
            _bound_params(bounds),
        ).all()

    def claims_from(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        return conn.execute(
            sa.text(
                f"SELECT c.* FROM {_BOUNDS} JOIN {claims.name} c ON c.place_id = b.place_id "  # noqa: S608
                "AND (c.occurred_start, c.position) >= (b.s, b.pos) WHERE NOT c.retracted"
            ).columns(*claims.c),
            _bound_params(bounds),
        ).all()

    def events_after(
        self, conn: sa.Connection, after: int, limit: int, upto: int | None
    ) -> list[RecordedEvent]:
        # A constant text run as it is, each row a plain tuple: a third less time than the same
        # SELECT built and typed by SQLAlchemy, for the hundreds of thousands a catch-up reads.
        params = {"after": after, "upto": _NO_LIMIT if upto is None else upto, "limit": limit}
        rows = conn.exec_driver_sql(_EVENTS_AFTER, params).all()
        return [_recorded(*row) for row in rows]

    def create_read_models(self, conn: sa.Connection, suffix: str) -> None:
        # The services' role may not create tables (migration 0007: CREATE on the log's schema would
        # let it plant functions): the migration's SECURITY DEFINER functions copy the live set's
        # definition and touch nothing but read-model tables.
        conn.execute(sa.text("SELECT frontline_read_models_create(:suffix)"), {"suffix": suffix})

    def drop_read_models(self, conn: sa.Connection, suffix: str) -> None:
        conn.execute(sa.text("SELECT frontline_read_models_drop(:suffix)"), {"suffix": suffix})

    def swap_read_models(self, conn: sa.Connection, suffix: str, retired: str) -> None:
        # The new set's indexes and keys take the live names too.
        conn.execute(
            sa.text("SELECT frontline_read_models_swap(:suffix, :retired)"),
            {"suffix": suffix, "retired": retired},
        )

    def lock_out_readers(self, conn: sa.Connection, live: Sequence[sa.Table]) -> None:
        # Readers take ACCESS SHARE on the read models before their snapshot (Database.snapshot's
        # `lock`), so from here they wait for the caller's commit instead of reading across it.
        names = ", ".join(f'"{t.name}"' for t in live)
        conn.execute(sa.text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))


_EVENTS_AFTER = (
    "SELECT position, event_id, type, stream_id, stream_version, occurred_at, occurred_start,"
    " recorded_at, request_id, target_event_id, schema_version, data FROM events"
    " WHERE position > %(after)s AND position <= %(upto)s ORDER BY position LIMIT %(limit)s"
)
_NO_LIMIT = 2**63 - 1

# Each place with its bound, as a set to join the claims with.
_BOUNDS = (
    "unnest(CAST(:places AS text[]), CAST(:starts AS timestamptz[]), CAST(:positions AS bigint[]))"
    " AS b(place_id, s, pos)"
)


def _bound_params(bounds: dict[str, Key]) -> dict[str, list[Any]]:
    places = list(bounds)
    return {
        "places": places,
        "starts": [bounds[p][0] for p in places],
        "positions": [bounds[p][1] for p in places],
    }


def _recorded(
    position: int, event_id: str, type: str, stream_id: str, stream_version: int, occurred_at: str | None,
    occurred_start: datetime | None, recorded_at: datetime, request_id: str | None,
    target_event_id: str | None, schema_version: int, data: dict[str, Any],
) -> RecordedEvent:  # fmt: skip
    return RecordedEvent(
        position, event_id, type, stream_id, stream_version, occurred_at, occurred_start, recorded_at,
        request_id, target_event_id, upgrade(type, schema_version, data),
    )  # fmt: skip


class _BinaryJsonb(Dumper):
    """A jsonb value in COPY's binary format: a version byte and the JSON as orjson writes it (one
    call a value, where psycopg's own dumper makes two)."""

    format = Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + orjson.dumps(obj)


def _driver(conn: sa.Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under `conn`, in the same transaction (for COPY)."""
    return cast("psycopg.Connection[Any]", conn.connection.driver_connection)
