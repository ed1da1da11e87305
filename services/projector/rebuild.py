"""Rebuilding the read models from position 0 into a separate set of tables, and comparing sets.

Replay builds a new set while the live one serves and swaps them; `frontline verify` builds a
scratch set and compares it row for row with the live one: incremental projection and a rebuild
from the log must agree exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from services.projector.runner import CatchUp, catch_up, fold_within
from services.store import checkpoints, event_log, read_model_sets
from services.store.database import Database
from services.store.read_models import PROJECTION, ReadModelTables, tables


def build_name(suffix: str) -> str:
    """The checkpoint name of the set of tables with `suffix`."""
    return f"{PROJECTION}{suffix}"


def create(db: Database, suffix: str) -> ReadModelTables:
    """An empty set of read-model tables under `suffix` (dropping a leftover one)."""
    with db.transaction() as conn:
        return read_model_sets.create(conn, suffix)


def drop(db: Database, suffix: str) -> None:
    with db.transaction() as conn:
        read_model_sets.drop(conn, suffix)
        checkpoints.delete(conn, build_name(suffix))


def rebuild(db: Database, suffix: str, batch_size: int = 20_000) -> CatchUp:
    """Project the whole log into a fresh set of tables under `suffix`."""
    built = create(db, suffix)
    return catch_up(db, build_name(suffix), built, batch_size=batch_size)


@dataclass
class Difference:
    table: str
    only_in_live: int
    only_in_rebuilt: int
    examples: list[str]


def differences(db: Database, live: ReadModelTables, rebuilt: ReadModelTables) -> list[Difference]:
    """Rows present in one set and not the other, table by table, both ways."""
    with db.snapshot() as conn:
        return compare(conn, live, rebuilt)


def compare(conn: sa.Connection, live: ReadModelTables, rebuilt: ReadModelTables) -> list[Difference]:
    found = []
    for a, b in zip(live.all, rebuilt.all, strict=True):
        left = _except(conn, a, b)
        right = _except(conn, b, a)
        if left or right:
            examples = [f"live: {r}" for r in left[:3]] + [f"rebuilt: {r}" for r in right[:3]]
            found.append(Difference(a.name, len(left), len(right), examples))
    return found


def verify(db: Database, batch_size: int = 20_000) -> list[Difference]:
    """Rebuild into scratch tables and compare them with the live ones at the same log position.

    The last stretch and the comparison run under the live checkpoint's lock: the live projector
    pauses for that long while both sets are brought to the same log position.
    """
    suffix = f"__verify{uuid.uuid4().hex[:8]}"
    try:
        scratch = create(db, suffix)
        catch_up(db, build_name(suffix), scratch, batch_size=batch_size)
        with db.transaction() as conn:
            checkpoints.lock(conn, PROJECTION)
            head = event_log.last_position(conn)
            fold_within(conn, PROJECTION, tables(), batch_size, upto=head)  # the live set, to head
            fold_within(conn, build_name(suffix), scratch, batch_size, upto=head)
            return compare(conn, tables(), scratch)
    finally:
        drop(db, suffix)


def _except(conn: sa.Connection, a: sa.Table, b: sa.Table) -> list[tuple[object, ...]]:
    columns = [c.name for c in a.columns]
    query = sa.except_(sa.select(*(a.c[n] for n in columns)), sa.select(*(b.c[n] for n in columns)))
    return [tuple(r) for r in conn.execute(query)]
