"""Replay records: what operators asked to rebuild, and how far each rebuild has got."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.store.read_models import replays

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class Replay:
    replay_id: str
    status: str
    processed: int
    total: int
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def start(conn: sa.Connection) -> tuple[Replay, bool]:
    """The replay queued or running now, or a new queued one; and whether it is new.

    There is at most one active replay (a unique index, migration 0008): a request that races
    another one's insert loses it and answers with the other's replay.
    """
    for _ in range(3):
        if (current := active(conn)) is not None:
            return current, False
        try:
            with conn.begin_nested():
                return create(conn), True
        except sa.exc.IntegrityError:
            continue  # another request created one first: that is the active replay
    raise RuntimeError("no replay could be started: another one kept winning and ending at once")


def create(conn: sa.Connection) -> Replay:
    replay_id = uuid.uuid4().hex[:16]
    row = {
        "replay_id": replay_id,
        "status": "queued",
        "processed": 0,
        "total": 0,
        "error": None,
        "requested_at": datetime.now(UTC),
    }
    conn.execute(replays.insert(), row)
    created = get(conn, replay_id)
    assert created is not None
    return created


def get(conn: sa.Connection, replay_id: str) -> Replay | None:
    row = conn.execute(sa.select(replays).where(replays.c.replay_id == replay_id)).first()
    return _replay(row) if row else None


def active(conn: sa.Connection) -> Replay | None:
    """The replay queued or running now, if any (there is at most one)."""
    query = sa.select(replays).where(replays.c.status.in_(ACTIVE)).order_by(replays.c.requested_at).limit(1)
    row = conn.execute(query).first()
    return _replay(row) if row else None


def claim(conn: sa.Connection, replay_id: str, now: datetime) -> bool:
    """Mark a queued replay `running`; False when it is not queued (run, failed or unknown)."""
    claimed = conn.execute(
        replays.update()
        .where(replays.c.replay_id == replay_id, replays.c.status == "queued")
        .values(status="running", started_at=now)
    )
    return bool(claimed.rowcount)


def update(conn: sa.Connection, replay_id: str, **fields: Any) -> bool:
    """Record a running replay's progress; False (and nothing written) when it is not running.

    Only its runner marks a running replay, and only while it runs: once anyone has failed it
    (store/replay_runners), the runner's later marks change nothing, and it stops."""
    updated = conn.execute(
        replays.update()
        .where(replays.c.replay_id == replay_id, replays.c.status == "running")
        .values(**fields)
    )
    return bool(updated.rowcount)


def fail(conn: sa.Connection, replay_id: str, status: str, error: str, now: datetime) -> bool:
    """Mark a replay `failed` if it still has `status`; whether it did."""
    failed = conn.execute(
        replays.update()
        .where(replays.c.replay_id == replay_id, replays.c.status == status)
        .values(status="failed", error=error[:4000], finished_at=now)
    )
    return bool(failed.rowcount)


def _replay(row: Any) -> Replay:
    return Replay(
        row.replay_id, row.status, row.processed, row.total, row.error,
        row.requested_at, row.started_at, row.finished_at,
    )  # fmt: skip
