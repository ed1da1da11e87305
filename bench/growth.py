"""Scenario `replay-growth`, the `replay` scenario's second half: how replay time grows with the log,
and with places.

Logs of 10,000, 100,000 and 1,000,000 events over 2,000 places, and the same over 20,000 places.
Each is a log of its own (bench.corpus: the same calendar, the same shares of late claims,
corrections and retractions; only its length and its places differ), written into one database
re-created for each (`bench_growth`, so that only one of them takes disk at a time), folded by
the live projection, then replayed as `frontline replay` runs it, between two raw ordered reads
of the same events (bench.replay_run). At every size the swapped-in read models must equal the
live projection's row for row (a short log is replayed REPEATS times, the fastest taken, and
every replay's rows checked). The one place with a thousand claims (bench.corpus's HOT_PLACE)
is in every log, a tenth of the 10,000-event ones.

Why not prefixes of one 1M log: a replay always folds the whole log, so every size needs a
database and a live projection of its own anyway; what a prefix would save is writing the
smaller logs' events (110,000 of them, a tenth of the 1M log's writing), and it would cut every
place's history to the first tenth of the calendar instead of being a shorter log of the same
shape.

The table: replay time beside the raw read, events/s, time per event (the whole replay, and its
build alone: the replay's fixed costs, creating and swapping tables, weigh on a small log), and
how the time grows between sizes as an exponent (1.0: in proportion to the log).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from rich.table import Table

from bench import corpus, replay_run
from bench.common import RESULTS, BenchEnv, Figure, ScenarioResult, console, stepper
from bench.measure import Reading, best

DB = "bench_growth"
# (places, log sizes in events): what the issue asks for; --quick only smokes the harness.
SIZES = ((2_000, (10_000, 100_000, 1_000_000)), (20_000, (10_000, 100_000, 1_000_000)))
QUICK_SIZES = ((2_000, (5_000, 20_000)), (20_000, (20_000,)))
# A replay of a short log lasts a second or less, where a busy machine's noise is as large as
# the differences between sizes: such logs are replayed REPEATS times and the fastest is taken
# (the limit, likewise, is the best of all the raw reads around them).
SHORT, REPEATS = 200_000, 3
COLUMNS = (
    "events",
    "places",
    "replay",
    "raw read",
    "ratio",
    "events/s (raw read)",
    "µs/event: replay / build / raw read",
    "µs/event ÷ the smallest log's",
    "(info) live catch-up",
    "rows equal",
)
step = stepper("replay-growth")


@dataclass
class Point:
    """One log's replay, beside the raw read of the same events."""

    events: int
    places: int
    seconds: float  # the whole replay, as `frontline replay` runs it
    stages: dict[str, float]  # where its time went (bench.replay_run.REPLAY_STAGES and below)
    limit: Reading  # the raw ordered read, the better of before and after
    catch_up: float  # the live projection's fold of the same log from empty, seconds
    equal: bool  # the swapped-in read models equal the live projection's

    @property
    def build(self) -> float:
        """Seconds folding the log into the new tables (no create, swap or drop)."""
        return self.stages.get(replay_run.BUILD, math.nan)

    def micros(self, seconds: float) -> float:
        return seconds / self.events * 1e6


def run(env: BenchEnv) -> ScenarioResult:
    """Every size of every place count: its figures and checks; the table printed and written
    beside the run's record as markdown, to paste."""
    result = ScenarioResult("replay-growth")
    points = [
        _point(env, result, corpus.Log(DB, events, places))
        for places, sizes in (QUICK_SIZES if env.quick else SIZES)
        for events in sizes
    ]
    result.details["growth"] = details(points)
    result.figures += [_figure(p) for p in points]
    result.notes += [f"{_name(p)}, the replay taken: {replay_run.describe_stages(p.stages)}" for p in points]
    result.notes += _growth_notes(points)
    _print(points)
    path = RESULTS / f"replay-growth-{env.run_id}-table.md"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(points) + "\n" + "\n".join(_growth_notes(points)) + "\n")
    step("table written: %s", path)
    return result


def _name(log: corpus.Log | Point) -> str:
    return f"growth, {log.events:,} events over {log.places:,} places"


def _point(env: BenchEnv, result: ScenarioResult, log: corpus.Log) -> Point:
    name = _name(log)
    prepared = replay_run.prepare(env, result, log, name)
    repeats = REPEATS if log.events < SHORT else 1
    labels = [f"{name} (replay {n + 1} of {repeats})" for n in range(repeats)] if repeats > 1 else [name]
    runs = [replay_run.measure(env, result, log, label) for label in labels]
    fastest = min(runs, key=lambda m: m.run.seconds)
    return Point(
        events=fastest.run.events,
        places=log.places,
        seconds=fastest.run.seconds,
        stages=fastest.run.stages,
        limit=best([r for m in runs for r in m.limits]),
        catch_up=prepared["live_catch_up"]["seconds"],
        # Each replay's rows equal those it replaced, the first's the live projection's.
        equal=all(m.after["fingerprint"] == runs[0].before["fingerprint"] for m in runs),
    )


def _figure(p: Point) -> Figure:
    return Figure(
        f"growth: replay of {p.events:,} events over {p.places:,} places: events/s",
        p.events / p.seconds,
        "events/s",
        limit=p.limit.rate,
        note="limit: the raw ordered read of the same events, the better reading around the replay",
    )


def _smallest(points: list[Point], p: Point) -> Point:
    return min((q for q in points if q.places == p.places), key=lambda q: q.events)


def cells(points: list[Point], p: Point) -> tuple[str, ...]:
    """One row of the table, as text (time per event beside that of the smallest log over as many
    places)."""
    first = _smallest(points, p)
    return (
        f"{p.events:,}",
        f"{p.places:,}",
        f"{p.seconds:,.2f} s",
        f"{p.limit.seconds:,.2f} s",
        f"{p.seconds / p.limit.seconds:.2f}",
        f"{p.events / p.seconds:,.0f} ({p.limit.rate:,.0f})",
        f"{p.micros(p.seconds):.1f} / {p.micros(p.build):.1f} / {p.micros(p.limit.seconds):.1f}",
        f"{p.micros(p.seconds) / first.micros(first.seconds):.2f}",
        f"{p.events / p.catch_up:,.0f} events/s",
        "yes" if p.equal else "**no**",
    )


def markdown(points: list[Point]) -> str:
    """The table as the rows of a BENCHMARKS.md table, to paste."""
    lines = [COLUMNS, ("---",) * len(COLUMNS), *(cells(points, p) for p in points)]
    return "\n".join(f"| {' | '.join(line)} |" for line in lines)


def _print(points: list[Point]) -> None:
    table = Table(title="Replay growth: with the log, and with places")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for p in points:
        table.add_row(*cells(points, p))
    console.print(table)


def exponent(small: Point, large: Point) -> float:
    """k in `time ∝ events^k` between two logs: 1.0 when the time grows in proportion to the log."""
    return math.log(large.seconds / small.seconds) / math.log(large.events / small.events)


def _growth_notes(points: list[Point]) -> list[str]:
    """How the time grows from each size to the next (same places), and with the places."""
    notes = []
    for places in sorted({p.places for p in points}):
        line = sorted((p for p in points if p.places == places), key=lambda p: p.events)
        steps = [f"{a.events:,} -> {b.events:,}: k = {exponent(a, b):.2f}" for a, b in pairwise(line)]
        if steps:
            notes.append(f"growth over {places:,} places, replay time ∝ events^k: " + "; ".join(steps))
    by_size: dict[int, list[Point]] = {}
    for p in points:
        by_size.setdefault(p.events, []).append(p)
    for events, same in sorted(by_size.items()):
        if len(same) > 1:
            few, many = min(same, key=lambda p: p.places), max(same, key=lambda p: p.places)
            notes.append(
                f"growth with places, {events:,} events: {many.places:,} places take"
                f" {many.seconds / few.seconds:.2f}× as long as {few.places:,}"
                f" (raw read {many.limit.seconds / few.limit.seconds:.2f}×)"
            )
    return notes


def details(points: list[Point]) -> list[dict[str, Any]]:
    """The points for the run's record."""
    return [{**asdict(p), "limit": asdict(p.limit)} for p in points]
