"""The SQLite backend, the embedded default: plain per-row statements; BEGIN IMMEDIATE already
serialises every writer, so it needs no locks of its own.

Chosen by `Database` for a `sqlite` URL; see `services.store.backend` for the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from services.domain.events import RecordedEvent
from services.store import event_log
from services.store.backend import ignoring_conflicts
from services.store.control_rows import Key
from services.store.read_models import tables


class SqliteBackend:
    name = "sqlite"

    # Shared by every writer.

    def insert_ignoring_conflicts(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return ignoring_conflicts(conn, table, sqlite.insert(table), rows)

    def lock_registry(self, conn: sa.Connection) -> None:
        pass  # the writer's BEGIN IMMEDIATE holds the database lock already

    # The log and its requests.

    # The read models.

    def one_of(self, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
        return column.in_(values)

    def insert_rows(self, conn: sa.Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            names = [c.name for c in table.columns]
            conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])

    def update_column(
        self,
        conn: sa.Connection,
        column: sa.Column[Any],
        key: sa.Column[Any],
        pairs: Sequence[tuple[Any, Any]],
    ) -> None:
        if pairs:
            table = column.table
            stmt = (
                table.update()
                .where(key == sa.bindparam("v_key"))
                .values({column.name: sa.bindparam("v_value")})
            )
            conn.execute(stmt, [{"v_key": k, "v_value": v} for k, v in pairs])

    def claims_before(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        c = claims.c
        query = (
            sa.select(c.place_id, c.occurred_start, c.position, c.state_after)
            .order_by(c.occurred_start.desc(), c.position.desc())
            .limit(1)
        )
        found = (
            conn.execute(query.where(*_in_place(c, place), _before(c, bound))).first()
            for place, bound in bounds.items()
        )
        return [row for row in found if row is not None]

    def claims_from(self, conn: sa.Connection, claims: sa.Table, bounds: dict[str, Key]) -> Sequence[Any]:
        c = claims.c
        query = sa.select(claims)
        return [
            row
            for place, bound in bounds.items()
            for row in conn.execute(query.where(*_in_place(c, place), sa.not_(_before(c, bound))))
        ]

    def events_after(
        self, conn: sa.Connection, after: int, limit: int, upto: int | None
    ) -> list[RecordedEvent]:
        return event_log.read_after(conn, after, limit, upto)

    def create_read_models(self, conn: sa.Connection, suffix: str) -> None:
        # No roles here: the tables are created from their SQLAlchemy description.
        built = tables(suffix)
        built.metadata.drop_all(conn)
        built.metadata.create_all(conn)

    def drop_read_models(self, conn: sa.Connection, suffix: str) -> None:
        tables(suffix).metadata.drop_all(conn)

    def swap_read_models(self, conn: sa.Connection, suffix: str, retired: str) -> None:
        # SQLite cannot rename an index; the new set's suffixed index names are harmless.
        for live, built in zip(tables().all, tables(suffix).all, strict=True):
            conn.execute(sa.text(f'ALTER TABLE "{live.name}" RENAME TO "{live.name}{retired}"'))
            conn.execute(sa.text(f'ALTER TABLE "{built.name}" RENAME TO "{live.name}"'))

    def lock_out_readers(self, conn: sa.Connection, live: Sequence[sa.Table]) -> None:
        pass  # the writer's BEGIN IMMEDIATE already keeps every other writer out, and readers see
        # the database as it was until the commit


def _in_place(c: Any, place: str) -> tuple[sa.ColumnElement[bool], ...]:
    return c.place_id == place, c.retracted.is_(False)


def _before(c: Any, bound: Key) -> sa.ColumnElement[bool]:
    return sa.tuple_(c.occurred_start, c.position) < sa.tuple_(*bound)
