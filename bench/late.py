"""Scenario `late`: what a late claim costs the projector, by the length of its place's history.

A feed reports today what happened weeks ago: the claim comes before claims already folded, and
the projector folds its place again from it on. The states after it come back to the stored ones
once a later claim overtakes it (a claim to the whole place resets the holdings), and the fold
stops there (services/projector/batch.py): a late claim should cost about the same on a place
with ten claims after it as on one with ten thousand.

On a fresh database: places with 10, 100, 1,000 and 10,000 claims, a day apart, the corpus's mix of
actors and shares, folded. Then, per place, in turns: a late claim (dated within the first tenth
of its history) appended and projected in-process, one transaction, as a worker's step does it;
and a claim dated after the place's last. The limit of the late step is the in-order step on the
same place, measured in the same turns.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import date, timedelta

from bench import corpus
from bench.common import BenchEnv, Check, Figure, ScenarioResult, stepper
from bench.stack import fresh_migrated
from services.domain.events import CONTROL_CHANGED
from services.domain.occurred import parse_occurred
from services.projector import rebuild, runner
from services.projector.batch import Batch
from services.store import checkpoints, event_log
from services.store.backend import backend_of
from services.store.control_store import ControlReader
from services.store.database import Database
from services.store.event_log import NewEvent
from services.store.read_models import PROJECTION, tables

DB = "bench_late"
LENGTHS = (10, 100, 1_000, 10_000)
STEPS, WARM = 40, 5  # late and in-order steps per place, the first WARM of each not counted
FIRST_DAY = date(2000, 1, 1)
# The late step on the shortest history, beside the same on the longest: at least this.
TARGET = 0.5
step = stepper("late")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("late")
    rng = random.Random(13)
    fresh_migrated(env.pg, DB)
    db = Database(env.pg.sqlalchemy_url(DB), pool_size=2)
    try:
        lengths = LENGTHS[:3] if env.quick else LENGTHS
        for length in lengths:
            _write(db, [_claim(f"place-{length}", FIRST_DAY + timedelta(days=d), rng) for d in range(length)])
        runner.catch_up(db, batch_size=20_000)
        corpus.settle(env.pg, DB)  # the planner's statistics, as in a database that has lived a while
        step("folded %s claims over %d places", f"{sum(lengths):,}", len(lengths))
        late = {length: _steps(db, length, rng, steps=10 if env.quick else STEPS) for length in lengths}
        differences = _beside_a_replay(db)
    finally:
        db.dispose()
    _figures(result, late)
    result.checks.append(
        Check("the read models equal a full replay's", not differences, "; ".join(differences[:3]))
    )
    return result


def _beside_a_replay(db: Database) -> list[str]:
    """How the read models the steps left differ from those a replay of the log builds."""
    suffix = "__late_check"
    try:
        rebuild.rebuild(db, suffix)
        return [str(d) for d in rebuild.differences(db, tables(), tables(suffix))]
    finally:
        rebuild.drop(db, suffix)


def _steps(db: Database, length: int, rng: random.Random, steps: int) -> dict[str, list[float]]:
    """Late and in-order steps on the place with `length` claims, in turns: wall ms each, and the
    stored claims each late step restated."""
    place, last = f"place-{length}", FIRST_DAY + timedelta(days=length)
    taken: dict[str, list[float]] = {"late": [], "in order": [], "restated": []}
    for i in range(steps):
        early = FIRST_DAY + timedelta(days=rng.randrange(max(1, length // 10)))
        seconds, restated = _project(db, _claim(place, early, rng))
        last += timedelta(days=1)
        in_order, _ = _project(db, _claim(place, last, rng))
        if i >= WARM:
            taken["late"].append(seconds * 1000)
            taken["in order"].append(in_order * 1000)
            taken["restated"].append(restated)
    step(
        "%s claims: late step %.2f ms (restated %s), in order %.2f ms (medians)",
        f"{length:,}", statistics.median(taken["late"]), statistics.median(taken["restated"]),
        statistics.median(taken["in order"]),
    )  # fmt: skip
    return taken


def _project(db: Database, claim: NewEvent) -> tuple[float, int]:
    """Append `claim`, then fold it as a worker's step does (runner.project_next_batch, with the
    batch at hand): the step's wall time and the stored claims it restated."""
    _write(db, [claim])
    t = tables()
    start = time.perf_counter()
    with db.transaction() as conn:
        checkpoint = checkpoints.lock(conn, PROJECTION)
        events = backend_of(conn).events_after(conn, checkpoint.position, 100, None)
        batch = Batch(ControlReader(conn, t))
        batch.feed(events)
        checkpoints.advance(conn, checkpoint, runner.write_batch(conn, t, batch))
    return time.perf_counter() - start, len(batch.restated)


def _write(db: Database, claims: list[NewEvent]) -> None:
    for i in range(0, len(claims), 5_000):
        with db.transaction() as conn:
            event_log.append(conn, claims[i : i + 5_000])


def _claim(place: str, when: date, rng: random.Random) -> NewEvent:
    actor, giver = rng.sample(corpus.ACTORS, 2)
    occurred = when.isoformat()
    data = {
        "report_id": f"late-{rng.getrandbits(48):x}", "claim_index": 0, "place_id": place,
        "place_name": place, "place_created": False, "actor_id": actor,
        "share": float(rng.choice(corpus.SHARES)), "from_actor_id": giver if rng.random() < 0.5 else None,
        "occurred_at": occurred, "supporting_actor_ids": [], "note": None, "source": {"name": "bench"},
    }  # fmt: skip
    return NewEvent(type=CONTROL_CHANGED, stream_id=place, data=data, occurred=parse_occurred(occurred))


def _figures(result: ScenarioResult, late: dict[int, dict[str, list[float]]]) -> None:
    for length, taken in late.items():
        ms, floor = statistics.median(taken["late"]), statistics.median(taken["in order"])
        result.figures.append(
            Figure(
                f"a late claim's projection step, place of {length:,} claims (median, wall)",
                ms, "ms", limit=floor,
                note=f"limit: a claim after the place's last, same place, in turns; p90 "
                f"{statistics.quantiles(taken['late'], n=10)[-1]:.2f} ms; stored claims restated: "
                f"median {statistics.median(taken['restated']):g}, max {max(taken['restated']):g}",
            )
        )  # fmt: skip
    shortest, longest = min(late), max(late)
    result.figures.append(
        Figure(
            f"a late claim's step on {shortest:,} claims, beside the same on {longest:,} (medians)",
            statistics.median(late[shortest]["late"]), "ms", limit=statistics.median(late[longest]["late"]),
            target=TARGET,
            note="independent of the history's length: the fold stops where the late claim is overtaken",
        )
    )  # fmt: skip
