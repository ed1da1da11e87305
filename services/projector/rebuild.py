"""Rebuilding the read models from position 0 into a separate set of tables, and comparing sets.

Replay builds a new set while the live one serves and swaps them; `frontline verify` builds a
scratch set and compares it row for row with the live one: incremental projection and a rebuild
from the log must agree exactly.

A rebuild folds the whole log as one batch (`build`): read in chunks, each chunk's events dropped
once applied, every place folded once from its first claim, every row written once. Folded in
batches that commit one by one, as the live projector must, a late claim makes its place's claims
stored by earlier batches be read back, folded again and rewritten: at 1,000,000 events over 2,000
places that doubled the time per event. The price is memory: the whole log's claim records, until
the write (see BENCHMARKS.md for the peak), and a killed build starts over (so does a replay).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from services.projector.batch import Batch, NothingStored
from services.projector.runner import CatchUp, catch_up, fold_within, write_batch
from services.store import checkpoints, event_log, read_model_sets
from services.store.backend import backend_of
from services.store.control_rows import decode_state_after, row_author, state_columns
from services.store.database import Database
from services.store.read_models import PROJECTION, ReadModelTables, tables

# Events read per statement (and per progress report) while a build reads the log.
READ_CHUNK = 100_000

# Called after each chunk a build reads, with the events read so far and the last one's position.
Progress = Callable[[int, int], None]


def build_name(suffix: str) -> str:
    """The checkpoint name of the set of tables with `suffix`."""
    return f"{PROJECTION}{suffix}"


def create(db: Database, suffix: str) -> ReadModelTables:
    """An empty set of read-model tables under `suffix` (dropping a leftover one), for `build`:
    without primary keys and indexes, which `build` adds once it has written the rows."""
    with db.transaction() as conn:
        return read_model_sets.create(conn, suffix)


def drop(db: Database, suffix: str) -> None:
    with db.transaction() as conn:
        read_model_sets.drop(conn, suffix)
        checkpoints.delete(conn, build_name(suffix))


def rebuild(db: Database, suffix: str, batch_size: int = 20_000) -> CatchUp:
    """Project the whole log into a fresh set of tables under `suffix` (and what arrives meanwhile)."""
    built = create(db, suffix)
    events = build(db, suffix, built)
    rest = catch_up(db, build_name(suffix), built, batch_size=batch_size)
    rest.events += events
    return rest


def build(
    db: Database,
    suffix: str,
    built: ReadModelTables,
    progress: Progress | None = None,
    chunk: int = READ_CHUNK,
) -> int:
    """Fold the log, up to its head as it is now, into the set `built` (just made by `create`) as
    one batch, reading `chunk` events at a time; returns the number of events folded. The rows,
    the set's indexes and the checkpoint are written in one transaction."""
    with db.snapshot() as conn:
        head = event_log.last_position(conn)
    whole, read, position = Batch(NothingStored()), 0, 0
    while position < head:
        with db.snapshot() as conn:
            events = backend_of(conn).events_after(conn, position, chunk, head)
        if not events:
            break
        whole.feed(events)
        read, position = read + len(events), events[-1].position
        del events  # the chunk's events are folded into records: let them go before the next
        if progress is not None:
            progress(read, position)
    with db.transaction() as conn:
        checkpoint = checkpoints.lock(conn, build_name(suffix))
        if read:
            write_batch(conn, built, whole)
            checkpoints.advance(conn, checkpoint, position)
        read_model_sets.index(conn, suffix)  # in bulk, after the rows (migration 0009 says why)
    return read


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
        # A claim's stored state is compared by what it says, not by its JSON: a row written before
        # the compact encoding (control_rows) spells out what a rebuilt one leaves to its row.
        columns = [c.name for c in a.columns if c.name != "state_after"]
        left = _except(conn, a, b, columns)
        right = _except(conn, b, a, columns)
        if "state_after" in a.c:
            for live_state, rebuilt_state in _states_apart(conn, a, b, columns):
                left.append(live_state)
                right.append(rebuilt_state)
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
        build(db, suffix, scratch)
        catch_up(db, build_name(suffix), scratch, batch_size=batch_size)
        with db.transaction() as conn:
            checkpoints.lock(conn, PROJECTION)
            head = event_log.last_position(conn)
            fold_within(conn, PROJECTION, tables(), batch_size, upto=head)  # the live set, to head
            fold_within(conn, build_name(suffix), scratch, batch_size, upto=head)
            return compare(conn, tables(), scratch)
    finally:
        drop(db, suffix)


def _except(conn: sa.Connection, a: sa.Table, b: sa.Table, columns: list[str]) -> list[tuple[object, ...]]:
    query = sa.except_(sa.select(*(a.c[n] for n in columns)), sa.select(*(b.c[n] for n in columns)))
    return [tuple(r) for r in conn.execute(query)]


def _states_apart(
    conn: sa.Connection, a: sa.Table, b: sa.Table, columns: list[str]
) -> list[tuple[tuple[object, ...], tuple[object, ...]]]:
    """Claim rows alike in every other column whose stored states differ once decoded: each as
    (event id, the state in `a`) and (event id, the state in `b`)."""
    alike = sa.and_(*(a.c[n].is_not_distinct_from(b.c[n]) for n in columns))
    query = (
        sa.select(*state_columns(a), b.c.state_after.label("other_state"))
        .join_from(a, b, alike)
        .where(a.c.state_after.is_distinct_from(b.c.state_after))
    )
    apart: list[tuple[tuple[object, ...], tuple[object, ...]]] = []
    for row in conn.execute(query):
        author = row_author(row)
        mine, other = (
            decode_state_after(state, author) if state is not None else None
            for state in (row.state_after, row.other_state)
        )
        if mine != other:
            apart.append(((row.event_id, "state_after", mine), (row.event_id, "state_after", other)))
    return apart
