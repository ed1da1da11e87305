"""What the scenarios measure with: the machine's limits, fingerprints of the read models, stage timing.

Two limits live here (the others: bench.raw's raw writes, bench.ceiling's bare ASGI server):
- the raw read: the events streamed in position order by raw psycopg into Python objects, JSON
  decoded by orjson: the least any catch-up or replay must do;
- the floor: raw commits with a NOTIFY on a schedule, a raw folder (bench.listen) that hears them
  and commits a checkpoint with its own NOTIFY, and a listener: the least a projector's freshness
  can be.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from bench import cpu
from bench.common import BenchError, Postgres
from bench.listen import clock, folding, freshness, listening, positions_heard

READ_COLUMNS = (
    "position, event_id, type, schema_version, stream_id, stream_version, occurred_at,"
    " occurred_start, recorded_at, request_id, target_event_id, data"
)  # what event_log.read_after reads
READ_MODELS = ("rm_place_state", "rm_holdings", "rm_claims", "rm_claim_places")


# The raw read


@dataclass
class Reading:
    """A rate, and the same per CPU-second spent by the harness and PostgreSQL together: on a
    machine others keep busy, the second compares work with work whatever CPU was left."""

    rate: float  # events/s
    per_cpu: float  # events per CPU-second
    seconds: float = 0.0


def best(readings: list[Reading]) -> Reading:
    """The better of readings taken around a run: the limit, the stricter comparison."""
    return Reading(
        max(r.rate for r in readings), max(r.per_cpu for r in readings), min(r.seconds for r in readings)
    )


def meter(dbname: str) -> cpu.Meter:
    """The harness's process and PostgreSQL's for `dbname` (start it once the backends exist)."""
    return cpu.Meter({"harness": cpu.this_process(), "postgres": cpu.postgres_for(dbname)})


def per_cpu(events: int, usage: cpu.Usage) -> float:
    spent = usage.seconds * (usage.groups["harness"] + usage.groups["postgres"])
    return events / spent if spent else 0.0


def limit_read(pg: Postgres, dbname: str, batch: int = 5000) -> Reading:
    """The events streamed in position order by a server-side cursor, each row a tuple of Python
    objects with its JSON decoded (by orjson, as Frontline's engine does)."""
    with pg.connect(dbname) as conn:
        set_json_loads(orjson.loads, conn)
        metered = meter(dbname)  # once the backend exists, so that it is measured
        metered.start()
        start, count = time.perf_counter(), 0
        with conn.cursor(name="limit") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT {READ_COLUMNS} FROM events ORDER BY position")
            while rows := cur.fetchmany(batch):
                count += len(rows)
        seconds = time.perf_counter() - start
        usage = metered.stop()
    return Reading(count / seconds, per_cpu(count, usage), seconds)


def fingerprint(conn: psycopg.Connection[Any]) -> list[str]:
    """An order-independent digest of every read-model row (a sum of 64-bit row hashes): two sets
    agree row for row when their digests do."""
    query = "SELECT count(*), sum(hashtextextended(t::text, 0)::numeric) FROM {} t"
    return [str(conn.execute(query.format(table)).fetchone()) for table in READ_MODELS]


# Where the time went


@dataclass
class Calls:
    """Seconds spent in each wrapped function, and the last call's start and end."""

    spent: dict[str, float] = field(default_factory=dict)
    last: dict[str, tuple[float, float]] = field(default_factory=dict)


# (module or class, function name, label): looked up at run time and skipped when absent, so that
# a renamed function does not break the benchmark.
Stages = tuple[tuple[Any, str, str], ...]


@contextmanager
def wrapped(stages: Stages) -> Iterator[Calls]:
    """Time the stages by wrapping their functions for the block (the services are observed, not
    changed; a wrap costs about a microsecond per call)."""
    calls = Calls()
    originals = [(owner, name, getattr(owner, name, None)) for owner, name, _ in stages]
    for (owner, name, original), (_, _, label) in zip(originals, stages, strict=True):
        if original is not None:
            setattr(owner, name, _timed(original, label, calls))
    try:
        yield calls
    finally:
        for owner, name, original in reversed(originals):
            if original is not None:
                setattr(owner, name, original)


def _timed(function: Callable[..., Any], label: str, calls: Calls) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            end = time.perf_counter()
            calls.spent[label] = calls.spent.get(label, 0.0) + end - start
            calls.last[label] = (start, end)

    return timed


# The floor


def wait_for(pg: Postgres, dbname: str, query: str, position: int, timeout: float = 30) -> None:
    """Wait until `query` (a checkpoint's position) reaches `position`: the last write is folded."""
    deadline = time.monotonic() + timeout
    with pg.connect(dbname, autocommit=True) as conn:
        while (row := conn.execute(query).fetchone()) is None or row[0] < position:
            if time.monotonic() > deadline:
                raise BenchError(f"{query!r} did not reach position {position} within {timeout:.0f} s")
            time.sleep(0.05)


def floor(pg: Postgres, dbname: str, count: int, interval: float) -> dict[str, dict[str, Any]]:
    """`count` raw commits with a NOTIFY, one every `interval` s; a raw folder hearing them and
    committing a checkpoint with its own NOTIFY; from each commit's return to each NOTIFY heard
    ("written": the commit's own, "folded": the folder's)."""
    url = pg.url(dbname)
    with pg.connect(dbname) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor_log (id bigserial PRIMARY KEY, data jsonb NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS floor_checkpoint (position bigint NOT NULL)")
        conn.execute("TRUNCATE floor_checkpoint")
        conn.execute("INSERT INTO floor_checkpoint VALUES (0)")
    with listening(url, ["bench_written", "bench_folded"]) as heard, folding(url):
        writes = _raw_writes(pg, dbname, count, interval)
        wait_for(pg, dbname, "SELECT position FROM floor_checkpoint", writes[-1][1])
    return {
        name: freshness(writes, *positions_heard(heard, f"bench_{name}")).summary()
        for name in ("written", "folded")
    }


def _raw_writes(pg: Postgres, dbname: str, count: int, interval: float) -> list[tuple[float, int]]:
    """(commit returned at, id) of `count` rows, one commit each, one every `interval` s."""
    data = orjson.dumps(
        {"place_id": "mosul-iq", "actor_id": "islamic-state", "share": 100.0, "occurred_at": "2020-01-01"}
    ).decode()
    insert = (
        "WITH w AS (INSERT INTO floor_log (data) VALUES (%s::jsonb) RETURNING id)"
        " SELECT id, pg_notify('bench_written', id::text) FROM w"
    )
    done = []
    with pg.connect(dbname) as conn:
        start = clock() + 0.1
        for n in range(count):
            if (delay := start + n * interval - clock()) > 0:
                time.sleep(delay)
            (row_id, _) = conn.execute(insert, (data,)).fetchone()  # type: ignore[misc]
            conn.commit()
            done.append((clock(), int(row_id)))
    return done
