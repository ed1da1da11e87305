"""One replay measured: `run_replay` as `frontline replay` runs it, its stages, the raw read around it,
and whether the swapped-in read models equal the ones the live projection had folded.

Shared by the `replay` scenario's full replay (bench.replay) and its growth table (bench.growth).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench import corpus
from bench.common import BenchEnv, Check, Postgres, ScenarioResult, record_cpu, stepper
from bench.measure import Reading, Stages, best, fingerprint, limit_read, meter, per_cpu, wrapped
from bench.projector import STAGES
from services import collector
from services.projector import batch, rebuild, replay
from services.store import read_model_sets, replays
from services.store.database import Database

BATCH = replay.MIN_BATCH  # what `frontline replay` and the replay job use (at least this)
SWAP = "swap: fold the last events, rename, commit"
LOCK = "  wait for ACCESS EXCLUSIVE on the live tables"
BUILD = "build: fold the log into them"
# Where a replay spends its time (bench.measure.wrapped). Each module's names are wrapped where it
# calls them (rebuild imported write_batch; the events are read by PostgresBackend, in STAGES).
REPLAY_STAGES: Stages = (
    (rebuild, "create", "create the new tables"),
    (replay, "_build", BUILD),
    (batch.Batch, "feed", "  apply each chunk's events to the records (Batch.feed)"),
    (rebuild, "write_batch", "  fold every place once, writing its rows (write_batch)"),
    (read_model_sets, "index", "  key and index the written tables (read_model_sets.index)"),
    (replay, "_remaining", "  count the events left, for progress (_remaining)"),
    (replay, "_mark", "  update the replay record (_mark)"),
    (replay, "swap", SWAP),
    (replay, "_lock_exclusively", LOCK),
    (replay, "drop_retired", "drop the retired set (after the swap, and any leftovers before the build)"),
)
step = stepper("replay")


@dataclass
class ReplayRun:
    replay_id: str
    events: int  # in the log
    seconds: float
    stages: dict[str, float]
    held_off_ms: float  # readers of the live tables waited at most this long (the swap's lock)
    progress: list[tuple[float, int, int]]  # (seconds since start, processed, total) per batch
    per_cpu: float = 0.0
    limit: Reading | None = None
    peak_mib: float = 0.0  # the replaying process's resident memory at its highest, less at the start

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass
class Measured:
    """A replay, the raw reads taken just before and just after it, and the projection's state
    (checkpoint, generation, a digest of every read-model row) before and after."""

    run: ReplayRun
    limits: list[Reading]
    before: dict[str, Any]
    after: dict[str, Any]


def measure(env: BenchEnv, result: ScenarioResult, log: corpus.Log, name: str) -> Measured:
    """Replay `log` (already folded by the live projection) between two raw reads of its events;
    the checks (named after `name`) go into `result`."""
    before = state(env.pg, log.dbname)
    limits = [_limit(env.pg, log.dbname, "before the replay")]
    done = _timed_replay(env, result, log, name)
    limits.append(_limit(env.pg, log.dbname, "after the replay"))
    done.limit = best(limits)
    measured = Measured(done, limits, before, state(env.pg, log.dbname))
    result.checks += checks(env.pg, log.dbname, name, measured)
    return measured


def prepare(env: BenchEnv, result: ScenarioResult, log: corpus.Log, name: str) -> dict[str, Any]:
    """A fresh database holding the corpus, folded by the live projection (timed: information);
    what was written and how long the fold took, for the record."""
    step("%s: fresh database %s, %d places", name, log.dbname, log.places)
    prepared = corpus.prepare(env.pg, log, fold=BATCH)
    written, done, seconds = prepared.corpus, prepared.folded, prepared.seconds
    assert done is not None
    step("corpus: %s", written.describe())
    step("live catch-up: %d events in %.1f s (%.0f events/s)", done.events, seconds, done.events / seconds)
    result.notes.append(f"{name}: {written.describe()}")
    result.checks.append(
        Check(
            f"{name}: the live projection caught up before anything is measured",
            done.caught_up and done.events == written.events,
            f"{done.events} of {written.events} events folded",
        )
    )
    return {
        "corpus": written.__dict__,
        "live_catch_up": {"events": done.events, "seconds": seconds, "caught_up": done.caught_up},
    }


def _limit(pg: Postgres, dbname: str, when: str) -> Reading:
    reading = limit_read(pg, dbname)
    step("limit (%s): %.1f s, %.0f events/s", when, reading.seconds, reading.rate)
    return reading


def _timed_replay(env: BenchEnv, result: ScenarioResult, log: corpus.Log, name: str) -> ReplayRun:
    """`run_replay` after creating its record, as `frontline replay` does (the cyclic collector
    paused), with its stages timed."""
    db = Database(env.pg.sqlalchemy_url(log.dbname), pool_size=2)
    try:
        with db.transaction() as conn:
            record = replays.create(conn)
        progress: list[tuple[float, int, int]] = []
        metered = meter(log.dbname)  # the record's connection is in the pool: its backend is measured
        metered.start()
        with wrapped(REPLAY_STAGES + STAGES) as calls, collector.paused():
            resident = _reset_peak()
            start = time.perf_counter()
            replay.run_replay(
                db,
                record.replay_id,
                batch_size=BATCH,
                progress=lambda done, total: progress.append((time.perf_counter() - start, done, total)),
            )
            seconds = time.perf_counter() - start
            peak = _memory("VmHWM") - resident
        usage = metered.stop()
    finally:
        db.dispose()
    step("%s (%s): %.1f s, peak memory +%.0f MiB", name, record.replay_id, seconds, peak)
    record_cpu(result, name, usage)
    # From the swap asking for the live tables (readers queue behind it) to its commit.
    asked, swapped = calls.last.get(LOCK, (0.0, 0.0))[0], calls.last.get(SWAP, (0.0, 0.0))[1]
    events = _count(env.pg, log.dbname)
    return ReplayRun(
        record.replay_id,
        events,
        seconds,
        calls.spent,
        (swapped - asked) * 1000,
        progress,
        per_cpu(events, usage),
        peak_mib=peak,
    )


def _reset_peak() -> float:
    """Start this process's resident-memory high-water mark afresh (Linux: clear_refs 5); the
    resident memory now, MiB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _memory("VmRSS")


def _memory(field: str) -> float:
    """A memory figure of this process from /proc/self/status, MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise LookupError(field)


def describe_stages(stages: dict[str, float]) -> str:
    """Where a replay's time went, in the order of its stages (a stage's sub-stages after it)."""
    order = [label for _, _, label in REPLAY_STAGES + STAGES if label in stages]
    return ", ".join(f"{label.strip()} {stages[label]:.1f} s" for label in order)


def _count(pg: Postgres, dbname: str) -> int:
    with pg.connect(dbname) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]


def state(pg: Postgres, dbname: str) -> dict[str, Any]:
    """The projection's checkpoint and generation, the log's head, and a digest of every row."""
    leftovers = (
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ '^rm_.*__'"
    )
    with pg.connect(dbname) as conn:
        position, generation = conn.execute(
            "SELECT position, generation FROM projections WHERE name = 'control'"
        ).fetchone()  # type: ignore[misc]
        return {
            "position": position,
            "generation": generation,
            "head": conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0],  # type: ignore[index]
            "projections": [r[0] for r in conn.execute("SELECT name FROM projections ORDER BY name")],
            "leftover_tables": [r[0] for r in conn.execute(leftovers)],
            "fingerprint": fingerprint(conn),
        }


def checks(pg: Postgres, dbname: str, name: str, measured: Measured) -> list[Check]:
    """What a replay must leave: its record done, the checkpoint at the head, the same rows."""
    done, before, after = measured.run, measured.before, measured.after
    with pg.connect(dbname) as conn:
        status, processed, error = conn.execute(
            "SELECT status, processed, error FROM replays WHERE replay_id = %s", (done.replay_id,)
        ).fetchone()  # type: ignore[misc]
    return [
        Check(
            f"{name}: the record says done, every event processed",
            status == "done" and processed == done.events,
            f"status {status}, processed {processed} of {done.events}" + (f"; {error}" if error else ""),
        ),
        Check(
            f"{name}: checkpoint = log head, generation up by one",
            after["position"] == after["head"] and after["generation"] == before["generation"] + 1,
            f"checkpoint {after['position']}, head {after['head']};"
            f" generation {before['generation']} -> {after['generation']}",
        ),
        Check(
            f"{name}: the rebuilt read models equal the live projection's, row for row",
            after["fingerprint"] == before["fingerprint"],
            "digests of rm_place_state, rm_holdings, rm_claims, rm_claim_places before and after",
        ),
        Check(
            f"{name}: nothing left behind (no build checkpoint, no suffixed tables)",
            after["projections"] == ["control"] and not after["leftover_tables"],
            f"projections {after['projections']}; tables {after['leftover_tables']}",
        ),
    ]
