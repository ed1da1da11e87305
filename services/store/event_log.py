"""The event log: append events, read them back in position order.

Guarantees (kept by the database itself, see migration 0001):
- positions are commit-ordered: a reader paging by `position > last` never passes over an event
  that commits later;
- `stream_version` numbers one stream's (one place's) events 1, 2, 3... with no duplicates;
- rows are never updated or deleted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from services.domain.events import CURRENT_VERSION, RecordedEvent, upgrade
from services.domain.occurred import OccurredAt
from services.store import requests
from services.store.dialects import driver_rows, is_postgres
from services.store.schema import events

# One constant statement for any number of events: the rows travel as one JSON array, so psycopg
# parses and prepares the text once per connection (a multi-row VALUES list would be a new, long
# text for every batch size, parsed afresh in Python each time). The trigger draws position, stream
# version and recorded_at (migration 0001); rows go in the array's order, so positions follow it.
_INSERT_PG = """
INSERT INTO events (event_id, type, schema_version, stream_id, occurred_at, occurred_precision,
                    occurred_start, request_id, target_event_id, data)
SELECT e.event_id, e.type, e.schema_version, e.stream_id, e.occurred_at, e.occurred_precision,
       e.occurred_start, e.request_id, e.target_event_id, e.data
FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (
    event_id text, type text, schema_version smallint, stream_id text, occurred_at text,
    occurred_precision text, occurred_start timestamptz, request_id text, target_event_id text,
    data jsonb)) WITH ORDINALITY AS e
"""
_APPEND_PG = _INSERT_PG + "ORDER BY e.ordinality RETURNING event_id, position, stream_version"

# Claiming the requests and appending their events in one statement: the events of a request not
# claimed now (recorded before, or by a concurrent transaction this one waited for) are filtered out
# by the claim's own RETURNING. ARRAY() makes the claim an init plan, run to completion before the
# first event row reaches the insert: every wait on a concurrent duplicate happens before this
# transaction takes the log's lock (the trigger's, at the first row), as with two statements.
_CLAIM_AND_APPEND_PG = (
    f"WITH claimed AS ({requests.CLAIM_PG}), appended AS ({_INSERT_PG}"  # noqa: S608 (constants only)
    " WHERE e.request_id = ANY (ARRAY(SELECT request_id FROM claimed))"
    " ORDER BY e.ordinality RETURNING event_id, position, stream_version)"
    " SELECT request_id, NULL, NULL, NULL FROM claimed"
    " UNION ALL SELECT NULL, event_id, position, stream_version FROM appended"
)
_COMMIT_WITH_APPEND = "frontline_commit_with_append"  # an execution option: see commit_with_append


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    stream_id: str
    data: dict[str, Any]
    occurred: OccurredAt | None = None
    request_id: str | None = None
    target_event_id: str | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def new_event_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, for callers that build many events at once.

    One read of the system's randomness for all of them: `uuid.uuid4()` reads it once per id, which
    is a visible share of the work for a 1000-claim report.
    """
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


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
    rows = [_row(e) for e in new_events]
    if is_postgres(conn):
        returned = driver_rows(conn, _APPEND_PG, (_json(rows),))
    else:
        _number_sqlite_rows(conn, rows)
        stmt = events.insert().returning(events.c.event_id, events.c.position, events.c.stream_version)
        returned = [tuple(r) for r in conn.execute(stmt, rows)]
    return _appended(new_events, returned)


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
    if not is_postgres(conn):
        claimed = requests.claim_many(conn, kind, hashes)
        return claimed, append(conn, [e for e in new_events if e.request_id in claimed])
    if not hashes:
        return set(), []
    ids = sorted(hashes)
    params = (kind, datetime.now(UTC), ids, [hashes[i] for i in ids], _json([_row(e) for e in new_events]))
    commit = bool(conn.get_execution_options().get(_COMMIT_WITH_APPEND))
    returned = driver_rows(conn, _CLAIM_AND_APPEND_PG, params, commit=commit)
    claimed = {request_id for request_id, *_ in returned if request_id is not None}
    appended = [event for event in new_events if event.request_id in claimed]
    return claimed, _appended(appended, [row[1:] for row in returned if row[0] is None])


def _json(rows: list[dict[str, Any]]) -> Jsonb:
    # orjson's bytes go to the server as they are (no str round trip for a 1000-row array).
    return Jsonb(rows, dumps=orjson.dumps)


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
