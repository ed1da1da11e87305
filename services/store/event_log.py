"""The event log: append events, read them back in position order.

Guarantees (kept by the database itself, see migration 0001):
- positions are commit-ordered: a reader paging by `position > last` never passes over an event
  that commits later;
- `stream_version` numbers one stream's (one place's) events 1, 2, 3... with no duplicates;
- rows are never updated or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import uuid_utils

from services.domain.events import CURRENT_VERSION, RecordedEvent, upgrade
from services.domain.occurred import OccurredAt
from services.store.backend import backend_of
from services.store.schema import events

_COMMIT_WITH_APPEND = "frontline_commit_with_append"  # an execution option: see commit_with_append


def new_event_id() -> str:
    """A new event id: a random UUID (version 4), made by uuid_utils in 0.2 us (the standard
    library's costs 2.6 us, a visible share of a 1000-claim report).

    Time-ordered ids (version 7) were tried, for the B-trees keyed on them: COPY of 400,000 rows into
    an indexed table took 2.4 s rather than 4.0 s, but the replay bench's replay was no faster and its
    corrections' p99 came out at 105-118 ms in both runs against 40-62 ms in three with random ids.
    """
    return str(uuid_utils.uuid4())


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    stream_id: str
    data: dict[str, Any]
    occurred: OccurredAt | None = None
    request_id: str | None = None
    target_event_id: str | None = None
    event_id: str = field(default_factory=new_event_id)


@dataclass(frozen=True, slots=True)
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
    return _appended(new_events, backend_of(conn).append_events(conn, [_row(e) for e in new_events]))


def commit_with_append(conn: sa.Connection) -> sa.Connection:
    """Let `claim_and_append` on `conn` also commit the transaction, in the same round trip.

    For a caller that writes nothing after it (the report writer). The append takes the log's lock
    and holds it to commit; sent together, the server commits and releases it without waiting for
    this process to read the answer and send COMMIT, which for a thread sharing the GIL with an event
    loop takes milliseconds that every other writer spends waiting for the lock. Statements issued
    after it run in a new transaction (the caller's commit then ends that one). PostgreSQL only:
    elsewhere the caller's commit does it, as usual.
    """
    return conn.execution_options(**{_COMMIT_WITH_APPEND: True})


def claim_and_append(
    conn: sa.Connection, kind: str, hashes: dict[str, str], new_events: Sequence[NewEvent]
) -> tuple[set[str], list[Appended]]:
    """`requests.claim_many(conn, kind, hashes)`, then `append` of those of `new_events` whose
    request was claimed now, in the caller's transaction: the ids claimed and the events appended.

    On PostgreSQL both are one statement, one round trip for a batch's writes (with its COMMIT,
    after `commit_with_append`).
    """
    if not hashes:
        return set(), []
    commit = bool(conn.get_execution_options().get(_COMMIT_WITH_APPEND))
    rows = [_row(e) for e in new_events]
    claimed, returned = backend_of(conn).claim_and_append(conn, kind, hashes, rows, commit)
    return claimed, _appended([e for e in new_events if e.request_id in claimed], returned)


def _appended(new_events: Sequence[NewEvent], returned: Sequence[Sequence[Any]]) -> list[Appended]:
    by_id = {event_id: (position, version) for event_id, position, version in returned}
    return [Appended(e.event_id, *by_id[e.event_id]) for e in new_events]


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
