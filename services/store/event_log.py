"""The event log: append events, read them back in position order.

Guarantees (kept by the database itself, see migration 0001):
- positions are commit-ordered: a reader paging by `position > last` never passes over an event
  that commits later;
- `stream_version` numbers one stream's (one place's) events 1, 2, 3... with no duplicates;
- rows are never updated or deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.domain.events import CURRENT_VERSION, RecordedEvent, upgrade
from services.domain.occurred import OccurredAt
from services.store.schema import events


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    stream_id: str
    data: dict[str, Any]
    occurred: OccurredAt | None = None
    request_id: str | None = None
    target_event_id: str | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Appended:
    event_id: str
    position: int
    stream_version: int


def append(conn: sa.Connection, new_events: Sequence[NewEvent]) -> list[Appended]:
    """Append `new_events` in order, in the caller's transaction; returns their positions.

    Visible to readers only when the caller commits; all or none of them are.
    """
    if not new_events:
        return []
    rows = [_row(e) for e in new_events]
    if conn.dialect.name == "sqlite":
        _number_sqlite_rows(conn, rows)
    stmt = events.insert().returning(events.c.event_id, events.c.position, events.c.stream_version)
    result = {r.event_id: r for r in conn.execute(stmt, rows)}
    return [
        Appended(e.event_id, result[e.event_id].position, result[e.event_id].stream_version)
        for e in new_events
    ]


def _row(event: NewEvent) -> dict[str, Any]:
    occurred = event.occurred
    return {
        "event_id": event.event_id,
        "type": event.type,
        "schema_version": CURRENT_VERSION[event.type],
        "stream_id": event.stream_id,
        "occurred_at": occurred.text if occurred else None,
        "occurred_precision": occurred.precision if occurred else None,
        "occurred_start": occurred.start if occurred else None,
        "request_id": event.request_id,
        "target_event_id": event.target_event_id,
        "data": event.data,
    }


def _number_sqlite_rows(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    # SQLite serialises writers (BEGIN IMMEDIATE), so numbering streams here cannot race; the
    # position is the table's AUTOINCREMENT rowid, commit-ordered for the same reason.
    streams = {r["stream_id"] for r in rows}
    query = (
        sa.select(events.c.stream_id, sa.func.max(events.c.stream_version))
        .where(events.c.stream_id.in_(streams))
        .group_by(events.c.stream_id)
    )
    versions: dict[str, int] = {row[0]: row[1] for row in conn.execute(query)}
    now = datetime.now(UTC)
    for row in rows:
        versions[row["stream_id"]] = versions.get(row["stream_id"], 0) + 1
        row["stream_version"] = versions[row["stream_id"]]
        row["recorded_at"] = now


_COLUMNS = (
    events.c.position,
    events.c.event_id,
    events.c.type,
    events.c.schema_version,
    events.c.stream_id,
    events.c.stream_version,
    events.c.occurred_at,
    events.c.occurred_start,
    events.c.recorded_at,
    events.c.request_id,
    events.c.target_event_id,
    events.c.data,
)


def read_after(conn: sa.Connection, after: int, limit: int, upto: int | None = None) -> list[RecordedEvent]:
    """Up to `limit` events with position > `after` (and <= `upto`), in position order."""
    query = sa.select(*_COLUMNS).where(events.c.position > after)
    if upto is not None:
        query = query.where(events.c.position <= upto)
    return [_recorded(r) for r in conn.execute(query.order_by(events.c.position).limit(limit))]


def read_claim_history(conn: sa.Connection, event_id: str) -> list[RecordedEvent]:
    """A claim event followed by every correction and retraction of it, in position order."""
    query = (
        sa.select(*_COLUMNS)
        .where(sa.or_(events.c.event_id == event_id, events.c.target_event_id == event_id))
        .order_by(events.c.position)
    )
    return [_recorded(r) for r in conn.execute(query)]


def read_requests(conn: sa.Connection, request_ids: list[str], event_type: str) -> list[RecordedEvent]:
    """The events of type `event_type` appended for these client request ids, in position order."""
    if not request_ids:
        return []
    query = (
        sa.select(*_COLUMNS)
        .where(events.c.request_id.in_(sorted(set(request_ids))), events.c.type == event_type)
        .order_by(events.c.position)
    )
    return [_recorded(r) for r in conn.execute(query)]


def last_position(conn: sa.Connection) -> int:
    """The position of the newest committed event (0 for an empty log)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0))).scalar_one())


def count(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def _recorded(row: Any) -> RecordedEvent:
    return RecordedEvent(
        position=row.position,
        event_id=row.event_id,
        type=row.type,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        occurred_at=row.occurred_at,
        occurred_start=row.occurred_start,
        recorded_at=row.recorded_at,
        request_id=row.request_id,
        target_event_id=row.target_event_id,
        data=upgrade(row.type, row.schema_version, row.data),
    )
