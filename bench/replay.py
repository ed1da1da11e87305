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

How replay time grows with the log and with places is the scenario's second half, `replay-growth`
(bench.growth), a scenario of its own so that each stays a run of a few minutes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench import corpus, corrections, replay_run
from bench.common import BenchEnv, Figure, ScenarioResult
from bench.projector import BOTH_SIDES
from bench.replay_run import ReplayRun
from services.projector import rebuild

DB = "bench_replay"
SMALL_DB = "bench_replay_small"
EVENTS = 1_000_000
SMALL_EVENTS = 10_000
# 8,000 places for a million events: both logs give a place the same length of history on
# average, so that a correction re-folds as much in either and only the log's size differs.
EVENTS_PER_PLACE = 125
TARGET_SECONDS = 60


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
    result.details.setdefault("logs", {})[log.dbname] = replay_run.prepare(env, result, log, log.label)


def _replay(env: BenchEnv, result: ScenarioResult, log: corpus.Log) -> None:
    measured = replay_run.measure(env, result, log, "replay")
    done = measured.run
    result.details["replay"] = {
        **asdict(done),
        "rate": done.rate,
        "limits": [asdict(r) for r in measured.limits],
        "state_before": measured.before,
        "state_after": measured.after,
    }
    _replay_figures(result, log, done, result.details["logs"][log.dbname]["live_catch_up"])


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
        Figure("replay: peak memory of the replaying process, above its start", done.peak_mib, "MiB",
               note="the whole log's claim records are held until the one write"),
    ]  # fmt: skip
    stages = replay_run.describe_stages(done.stages)
    result.notes.append(f"replay ({done.seconds:.1f} s, read in chunks of {rebuild.READ_CHUNK:,}): {stages}")
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
