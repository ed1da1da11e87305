"""Scenario `replay`: a full replay of a long log, and how soon a correction's effect can be read.

1. Replay: a log of 1,000,000 realistic events (bench.corpus, 8,000 places), folded by the live
   projection first (`runner.catch_up` in-process, timed for information); then
   `services.projector.replay.run_replay` in-process, as the RQ job and `frontline replay` call it,
   after creating its replay record: a new set of read-model tables built from position 0 beside
   the live one, then swapped in. Its stages are timed by wrapping the services' functions. Beside
   it, the machine's limit, read just before and just after: raw psycopg streaming the same events
   in position order (as in bench.projector); the better reading is the limit. Afterwards the
   swapped-in read models must equal, row for row, those the live projection had folded.
2. Corrections (bench.corrections): the production shape (`frontline ingest-api`, `frontline
   read-api`, `frontline worker` with the Redis doorbell) on that log and, at the same time, on a
   10,000-event log with as many events per place; corrections of random earlier claims POSTed to
   each in turn; for each, the time from the POST's answer until `GET /v1/places/{id}?min_position=`
   its position answers 200. The floor beside it: raw commits with NOTIFY, folded by a raw folder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from bench import corpus, corrections
from bench.common import BenchEnv, Check, Figure, Postgres, ScenarioResult, record_cpu, stepper
from bench.measure import Reading, Stages, best, fingerprint, limit_read, meter, per_cpu, wrapped
from bench.projector import BOTH_SIDES, STAGES
from services.projector import rebuild, replay, runner
from services.store import replays
from services.store.database import Database

DB = "bench_replay"
SMALL_DB = "bench_replay_small"
EVENTS = 1_000_000
SMALL_EVENTS = 10_000
# 8,000 places for a million events: both logs give a place the same length of history on
# average, so that a correction re-folds as much in either and only the log's size differs.
EVENTS_PER_PLACE = 125
BATCH = replay.MIN_BATCH  # what `frontline replay` and the replay job use (at least this)
TARGET_SECONDS = 60
step = stepper("replay")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("replay")
    large, small = _log(DB, 50_000 if env.quick else EVENTS), _log(SMALL_DB, SMALL_EVENTS)
    for log in (small, large):
        _prepare(env, result, log)
    _replay(env, result, large)
    corrections.measure(env, result, large, small)
    return result


def _log(dbname: str, events: int) -> corpus.Log:
    return corpus.Log(dbname, events, events // EVENTS_PER_PLACE)


def _prepare(env: BenchEnv, result: ScenarioResult, log: corpus.Log) -> None:
    """A fresh database holding the corpus, folded by the live projection (timed: information)."""
    step("%s: fresh database %s, %d places", log.label, log.dbname, log.places)
    prepared = corpus.prepare(env.pg, log, fold=BATCH)
    written, done, seconds = prepared.corpus, prepared.folded, prepared.seconds
    assert done is not None
    step("corpus: %s", written.describe())
    step("live catch-up: %d events in %.1f s (%.0f events/s)", done.events, seconds, done.events / seconds)
    result.details.setdefault("logs", {})[log.dbname] = {
        "corpus": written.__dict__,
        "live_catch_up": {"events": done.events, "seconds": seconds, "caught_up": done.caught_up},
    }
    result.notes.append(f"{log.label}: {written.describe()}")
    result.checks.append(
        Check(
            f"{log.label}: the live projection caught up before anything is measured",
            done.caught_up and done.events == written.events,
            f"{done.events} of {written.events} events folded",
        )
    )


def _limit(pg: Postgres, dbname: str, when: str) -> Reading:
    reading = limit_read(pg, dbname)
    step("limit (%s): %.1f s, %.0f events/s", when, reading.seconds, reading.rate)
    return reading


SWAP = "swap: fold the last events, rename, commit"
LOCK = "  wait for ACCESS EXCLUSIVE on the live tables"
# Where a replay spends its time (bench.measure.wrapped). The replay module's own names are
# wrapped there, as it calls them (it imported project_next_batch).
REPLAY_STAGES: Stages = (
    (rebuild, "create", "create the new tables"),
    (replay, "_build", "build: fold the log into them"),
    (replay, "project_next_batch", "  batches (project_next_batch)"),
    (replay, "_remaining", "  count the events left, for progress (_remaining)"),
    (replay, "_mark", "  update the replay record (_mark)"),
    (replay, "swap", SWAP),
    (replay, "_lock_exclusively", LOCK),
    (replay, "drop_retired", "drop the retired set (after the swap, and any leftovers before the build)"),
)


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

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _replay(env: BenchEnv, result: ScenarioResult, log: corpus.Log) -> None:
    before = _state(env.pg, log.dbname)
    limits = [_limit(env.pg, log.dbname, "before the replay")]
    done = _timed_replay(env, result, log)
    limits.append(_limit(env.pg, log.dbname, "after the replay"))
    done.limit = best(limits)
    after = _state(env.pg, log.dbname)
    _check_replay(env.pg, result, done, before, after)
    result.details["replay"] = {
        **asdict(done),
        "rate": done.rate,
        "limits": [asdict(r) for r in limits],
        "state_before": before,
        "state_after": after,
    }
    _replay_figures(result, log, done, result.details["logs"][log.dbname]["live_catch_up"])


def _timed_replay(env: BenchEnv, result: ScenarioResult, log: corpus.Log) -> ReplayRun:
    """`run_replay` after creating its record, as `frontline replay` does (the cyclic collector
    paused), with its stages timed."""
    db = Database(env.pg.sqlalchemy_url(log.dbname), pool_size=2)
    try:
        with db.transaction() as conn:
            record = replays.create(conn)
        progress: list[tuple[float, int, int]] = []
        metered = meter(log.dbname)  # the record's connection is in the pool: its backend is measured
        metered.start()
        with wrapped(REPLAY_STAGES + STAGES) as calls, runner.cyclic_gc_paused():
            start = time.perf_counter()
            replay.run_replay(
                db,
                record.replay_id,
                batch_size=BATCH,
                progress=lambda done, total: progress.append((time.perf_counter() - start, done, total)),
            )
            seconds = time.perf_counter() - start
        usage = metered.stop()
    finally:
        db.dispose()
    step("replay %s: %.1f s", record.replay_id, seconds)
    record_cpu(result, "replay", usage)
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
    )


def _count(pg: Postgres, dbname: str) -> int:
    with pg.connect(dbname) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]


def _state(pg: Postgres, dbname: str) -> dict[str, Any]:
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


def _check_replay(
    pg: Postgres, result: ScenarioResult, done: ReplayRun, before: dict[str, Any], after: dict[str, Any]
) -> None:
    with pg.connect(DB) as conn:
        status, processed, error = conn.execute(
            "SELECT status, processed, error FROM replays WHERE replay_id = %s", (done.replay_id,)
        ).fetchone()  # type: ignore[misc]
    result.checks += [
        Check(
            "replay: the record says done, every event processed",
            status == "done" and processed == done.events,
            f"status {status}, processed {processed} of {done.events}" + (f"; {error}" if error else ""),
        ),
        Check(
            "replay: checkpoint = log head, generation up by one",
            after["position"] == after["head"] and after["generation"] == before["generation"] + 1,
            f"checkpoint {after['position']}, head {after['head']};"
            f" generation {before['generation']} -> {after['generation']}",
        ),
        Check(
            "replay: the rebuilt read models equal the live projection's, row for row",
            after["fingerprint"] == before["fingerprint"],
            "digests of rm_place_state, rm_holdings, rm_claims, rm_claim_places before and after",
        ),
        Check(
            "replay: nothing left behind (no build checkpoint, no suffixed tables)",
            after["projections"] == ["control"] and not after["leftover_tables"],
            f"projections {after['projections']}; tables {after['leftover_tables']}",
        ),
    ]


def _replay_figures(result: ScenarioResult, log: corpus.Log, done: ReplayRun, live: dict[str, Any]) -> None:
    limit = done.limit
    assert limit is not None
    result.figures += [
        Figure(f"full replay of the {log.label}: seconds", done.seconds, "s", limit=limit.seconds,
               target=TARGET_SECONDS, ceiling=True,
               note="limit: the raw read of the same events;"
                    " the ratio is how many times longer the replay took"),
        Figure(f"full replay of the {log.label}: events/s", done.rate, "events/s", limit=limit.rate,
               note="limit: raw psycopg streaming the same events, the better reading around the run"),
        Figure("(per CPU-second) full replay", done.per_cpu, "events/CPU-s", limit=limit.per_cpu,
               note=BOTH_SIDES),
        Figure(f"(information) live catch-up of the {log.label} from empty", live["events"] / live["seconds"],
               "events/s", limit=limit.rate),
        Figure("replay's swap: readers of the live tables held off at most", done.held_off_ms, "ms"),
    ]  # fmt: skip
    order = [label for _, _, label in REPLAY_STAGES + STAGES if label in done.stages]
    stages = ", ".join(f"{label.strip()} {done.stages[label]:.1f} s" for label in order)
    result.notes.append(f"replay ({done.seconds:.1f} s, batch {BATCH:,}): {stages}")
    result.notes.append(_pace(done))


def _pace(done: ReplayRun) -> str:
    """Whether the build slowed down as its tables grew: the rate over its first and last tenths."""
    points = done.progress
    if len(points) < 10:
        return "replay: too few batches to compare the build's pace"
    tenth = len(points) // 10
    first = points[tenth - 1][1] / points[tenth - 1][0]
    last = (points[-1][1] - points[-tenth - 1][1]) / (points[-1][0] - points[-tenth - 1][0])
    return f"replay: the build folded {first:,.0f} events/s over its first tenth, {last:,.0f} over its last"
