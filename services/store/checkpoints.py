"""Projection checkpoints: how far into the log each projection has folded, and whether it runs.

A projection's batch locks its checkpoint row (FOR UPDATE; SQLite's BEGIN IMMEDIATE does the same)
before reading events, and writes it with the batch's rows: several workers take turns, none applies
an event twice, and a batch that dies leaves the checkpoint where its rows are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.store.backend import backend_of
from services.store.read_models import projections

NOTIFY_CHANNEL = "frontline_projection"


@dataclass(frozen=True)
class Checkpoint:
    name: str
    position: int
    generation: int
    status: str  # running | failed
    error: str | None
    updated_at: datetime


def lock(conn: sa.Connection, name: str) -> Checkpoint:
    """The checkpoint of `name`, locked until the caller's transaction ends (created at 0)."""
    row = _select(conn, name, for_update=True)
    if row is None:
        backend_of(conn).insert_ignoring_conflicts(conn, projections, [_initial(name)])
        row = _select(conn, name, for_update=True)
    return _checkpoint(row)


def read(conn: sa.Connection, name: str) -> Checkpoint | None:
    row = _select(conn, name, for_update=False)
    return _checkpoint(row) if row is not None else None


def read_all(conn: sa.Connection) -> list[Checkpoint]:
    return [_checkpoint(r) for r in conn.execute(sa.select(projections).order_by(projections.c.name))]


def advance(conn: sa.Connection, checkpoint: Checkpoint, position: int) -> None:
    """Move the checkpoint (in the caller's transaction) and tell listeners when it commits."""
    conn.execute(
        projections.update()
        .where(projections.c.name == checkpoint.name)
        .values(position=position, updated_at=datetime.now(UTC))
    )
    notify(conn, checkpoint.name, checkpoint.generation, position)


def fail(conn: sa.Connection, name: str, error: str) -> None:
    """Stop the projection: it stays stopped, and says why, until it is replayed."""
    # Locked first, which creates it at 0 if no batch ever committed: a projection that fails at
    # its very first batch must be stopped too, not retried by every job.
    lock(conn, name)
    conn.execute(
        projections.update()
        .where(projections.c.name == name)
        .values(status="failed", error=error[:4000], updated_at=datetime.now(UTC))
    )


def notify(conn: sa.Connection, name: str, generation: int, position: int) -> None:
    """Tell listening read APIs, when the caller's transaction commits, what the models now hold.

    The payload is `<schema>:<projection>:<generation>:<position>` (`parse_notice`): a channel is
    shared by every schema of the database, and the schema tells a listener whether it is its own.
    """
    backend_of(conn).notify(conn, NOTIFY_CHANNEL, f":{name}:{generation}:{position}")


@dataclass(frozen=True)
class Notice:
    schema: str
    name: str
    generation: int
    position: int


def parse_notice(payload: str) -> Notice | None:
    """A `notify` payload, or None for anything else."""
    parts = payload.rsplit(":", 3)
    if len(parts) != 4 or not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    return Notice(parts[0], parts[1], int(parts[2]), int(parts[3]))


def _select(conn: sa.Connection, name: str, for_update: bool) -> Any:
    query = sa.select(projections).where(projections.c.name == name)
    return conn.execute(backend_of(conn).for_update(query) if for_update else query).first()


def _initial(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "position": 0,
        "generation": 0,
        "status": "running",
        "error": None,
        "updated_at": datetime.now(UTC),
    }


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(row.name, row.position, row.generation, row.status, row.error, row.updated_at)


def swap_in(conn: sa.Connection, checkpoint: Checkpoint, position: int) -> None:
    """A rebuilt set of read models at `position` has replaced the live one (the caller holds
    `checkpoint`'s lock): the next generation starts there, running, and listeners are told."""
    conn.execute(
        projections.update()
        .where(projections.c.name == checkpoint.name)
        .values(
            position=position,
            generation=projections.c.generation + 1,
            status="running",
            error=None,
            updated_at=datetime.now(UTC),
        )
    )
    notify(conn, checkpoint.name, checkpoint.generation + 1, position)


def delete(conn: sa.Connection, name: str) -> None:
    """Forget the checkpoint of `name` (a rebuilt set swapped in or dropped)."""
    conn.execute(projections.delete().where(projections.c.name == name))
