"""Scenario `projector`: the RQ projector's catch-up speed and freshness, beside the machine's own.

1. Catch-up: a log of 200,000 realistic events (bench.corpus) and empty read models; the time
   `services.projector.runner.catch_up` takes, in-process as a worker's job runs it (the cyclic
   garbage collector paused: `collector.paused`), from empty to the log's head, at the
   default batch size and one larger, and once more with the collector on, as in the embedded
   projector of `frontline serve` (a diagnostic: how much of the time is the collector's). Each run sits
   between two readings of the machine's limit for the same events: raw psycopg streaming them in
   position order into Python objects, JSON included; a run's limit is the better of the two.
2. Freshness: single-claim reports POSTed at a steady 200/s to `frontline ingest-api` (Redis
   doorbell) with one, then two, `frontline worker` processes; for each report, the time from its
   answer to the first NOTIFY of a checkpoint at or past its position (what the read API listens
   to). The floor beside it, in the same run: raw psycopg writes at the same rate, each committed
   with a NOTIFY, and a raw folder that hears them and commits a checkpoint with its own NOTIFY.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson

from bench import corpus, cpu
from bench.common import (
    REPO,
    RESULTS,
    BenchEnv,
    Check,
    Figure,
    Postgres,
    ScenarioResult,
    percentiles,
    record_cpu,
    stepper,
)
from bench.listen import Heard, freshness, listening, positions_heard
from bench.measure import (
    Reading,
    Stages,
    best,
    fingerprint,
    floor,
    limit_read,
    meter,
    per_cpu,
    wait_for,
    wrapped,
)
from bench.paced import Sent, paced, post_request
from bench.stack import HEADERS, Api, Running, frontline_env, production
from services import collector
from services.gazetteer import load as load_gazetteer
from services.projector import batch, runner
from services.store import control_store
from services.store.database import Database
from services.store.postgres import PostgresBackend

DB = "bench_projector"
EVENTS = 200_000
# (batch size, cyclic GC on): a smaller batch than the default, the default PROJECTION_BATCH_SIZE
# (20,000: services/config.py), and the diagnostic (the embedded projector's collector setting).
CATCH_UPS = ((5000, False), (20_000, False), (5000, True))
RATE = 200  # reports per second in the freshness runs
BOTH_SIDES = "events per CPU-second of the harness and PostgreSQL, both sides"
CHECKPOINT = "SELECT position FROM projections WHERE name = 'control'"
step = stepper("projector")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("projector")
    events = 20_000 if env.quick else EVENTS
    step("fresh database %s, migrated, %d events appended", DB, events)
    written = corpus.prepare(env.pg, corpus.Log(DB, events)).corpus
    step("corpus: %s", written.describe())
    result.details["corpus"] = written.__dict__
    result.notes.append(f"corpus: {written.describe()}")
    _catch_ups(env, result)
    _freshness_runs(env, result)
    return result


# 1. Catch-up


def reset_read_models(pg: Postgres) -> None:
    """Empty read models and no checkpoint: where a first catch-up (or a rebuild) starts."""
    with pg.connect(DB) as conn:
        conn.execute("TRUNCATE rm_place_state, rm_holdings, rm_claims, rm_claim_places")
        conn.execute("DELETE FROM projections")
    with pg.connect(DB, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE rm_place_state, rm_holdings, rm_claims, rm_claim_places")


@dataclass
class CatchUpRun:
    batch_size: int
    gc_enabled: bool
    events: int
    seconds: float
    caught_up: bool
    gc_seconds: float  # inside the cyclic collector
    gc_collections: dict[int, int]  # per generation
    stages: dict[str, float]  # seconds per stage (see STAGES)
    per_cpu: float = 0.0  # events per CPU-second (see Reading)
    limit: Reading = field(default_factory=lambda: Reading(0.0, 0.0))  # the better reading around it

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def label(self) -> str:
        return f"batch {self.batch_size:,}" + (", cyclic GC on (embedded)" if self.gc_enabled else "")


# Where a catch-up spends its time (bench.measure.wrapped).
STAGES: Stages = (
    (PostgresBackend, "events_after", "read events (PostgresBackend.events_after)"),
    (batch.Batch, "feed", "apply the events to claim records (Batch.feed), loads included"),
    (control_store.ControlReader, "place_states", "  load place states"),
    (control_store.ControlReader, "refold_context", "load re-fold context"),
    (runner, "write_batch", "fold and write (write_batch), re-fold context included"),
    (PostgresBackend, "insert_rows", "  COPY new rows as their places fold (claims), and places, holdings"),
    (PostgresBackend, "update_column", "  restate claims"),
    (control_store, "_write_places", "  rewrite place states and holdings"),
)


@contextmanager
def gc_clock() -> Iterator[dict[str, Any]]:
    """Seconds spent in Python's cyclic garbage collector during the block, and collections."""
    stats: dict[str, Any] = {"seconds": 0.0, "collections": {0: 0, 1: 0, 2: 0}}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            stats["seconds"] += time.perf_counter() - started[0]
            stats["collections"][info["generation"]] += 1

    gc.callbacks.append(callback)
    try:
        yield stats
    finally:
        gc.callbacks.remove(callback)


def timed_catch_up(db: Database, batch_size: int, gc_enabled: bool) -> CatchUpRun:
    """`catch_up` from empty read models to the log's head, as a worker's job calls it (or, with
    `gc_enabled`, as the embedded projector does)."""
    gc.collect()
    # The embedded projector folds under `frontline serve`'s setting; a worker's job with none.
    setting = collector.collecting_rarely() if gc_enabled else collector.paused()
    with setting, wrapped(STAGES) as calls, gc_clock() as collected:
        start = time.perf_counter()
        done = runner.catch_up(db, batch_size=batch_size)
        seconds = time.perf_counter() - start
    return CatchUpRun(
        batch_size, gc_enabled, done.events, seconds, done.caught_up,
        collected["seconds"], collected["collections"], calls.spent,
    )  # fmt: skip


def _catch_ups(env: BenchEnv, result: ScenarioResult) -> None:
    limits = [_limit(env.pg, "before the first catch-up")]
    runs = []
    for batch_size, gc_enabled in CATCH_UPS:
        reset_read_models(env.pg)
        step("catch-up, batch size %d%s", batch_size, ", cyclic GC on" if gc_enabled else "")
        done = _metered_catch_up(env, result, batch_size, gc_enabled)
        _check_catch_up(env.pg, result, done)
        limits.append(_limit(env.pg, f"after the catch-up ({done.label})"))
        done.limit = best(limits[-2:])
        runs.append(done)
    result.details["limit_reads"] = [r.__dict__ for r in limits]
    result.details["catch_ups"] = [{**r.__dict__, "limit": r.limit.__dict__, "rate": r.rate} for r in runs]
    for done in runs:
        _catch_up_figures(result, done)


def _metered_catch_up(env: BenchEnv, result: ScenarioResult, batch_size: int, gc_enabled: bool) -> CatchUpRun:
    db = Database(env.pg.sqlalchemy_url(DB), pool_size=2)
    with db.snapshot():  # connected before the meter starts, so that its backend is measured
        pass
    metered = meter(DB)
    metered.start()
    try:
        done = timed_catch_up(db, batch_size, gc_enabled)
        usage = metered.stop()  # before the backend goes with the pool
    finally:
        db.dispose()
    done.per_cpu = per_cpu(done.events, usage)
    record_cpu(result, f"catch-up ({done.label})", usage)
    step("%s: %d events in %.1f s, %.0f events/s", done.label, done.events, done.seconds, done.rate)
    return done


def _limit(pg: Postgres, label: str) -> Reading:
    reading = limit_read(pg, DB)
    step("limit (%s): %.0f events/s, %.0f per CPU-second", label, reading.rate, reading.per_cpu)
    return reading


def _check_catch_up(pg: Postgres, result: ScenarioResult, done: CatchUpRun) -> None:
    with pg.connect(DB) as conn:
        head, count, claims, retractions = conn.execute(
            "SELECT max(position), count(*), count(*) FILTER (WHERE type = 'ControlChanged'),"
            " count(*) FILTER (WHERE type = 'ClaimRetracted') FROM events"
        ).fetchone()  # type: ignore[misc]
        checkpoint = conn.execute(CHECKPOINT).fetchone()
        rows, retracted = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE retracted) FROM rm_claims"
        ).fetchone()  # type: ignore[misc]
        digest = fingerprint(conn)
    position = checkpoint[0] if checkpoint else None
    first = result.details.setdefault("fingerprint", digest)
    result.checks += [
        Check(
            f"catch-up ({done.label}): checkpoint = log head",
            done.caught_up and position == head and done.events == count,
            f"checkpoint {position}, head {head}; {done.events} events folded of {count}",
        ),
        Check(
            f"catch-up ({done.label}): one claim row per claim, retractions applied",
            rows == claims and retracted == retractions,
            f"{rows} claim rows for {claims} claims; {retracted} retracted for {retractions} retractions",
        ),
        Check(
            f"catch-up ({done.label}): read models identical to the first run's",
            digest == first,
            "batch boundaries must not change what is folded",
        ),
    ]


def _catch_up_figures(result: ScenarioResult, done: CatchUpRun) -> None:
    diagnostic = done.gc_enabled
    result.figures += [
        Figure(("(diagnostic) " if diagnostic else "") + f"catch-up from empty, {done.label}", done.rate,
               "events/s", limit=done.limit.rate, target=None if diagnostic else 0.35,
               note="limit: raw psycopg streaming the same events, the better reading around the run"),
        Figure(f"(per CPU-second) catch-up, {done.label}", done.per_cpu, "events/CPU-s",
               limit=done.limit.per_cpu, note=BOTH_SIDES),
    ]  # fmt: skip
    stages = ", ".join(f"{k.strip()} {v:.1f} s" for k, v in done.stages.items())
    gcs = done.gc_collections
    result.notes.append(
        f"catch-up ({done.label}): {done.seconds:.1f} s; cyclic GC {done.gc_seconds:.1f} s"
        f" ({gcs[0]}/{gcs[1]}/{gcs[2]} collections of generations 0/1/2); {stages}"
    )


# 2. Freshness


@dataclass
class Feed:
    """Single-claim reports on gazetteer towns (the names feeds use), various actors, shares and
    givers, built before the clock starts. Dates move forward from `first_day` (after the corpus)
    and keep moving from one run to the next, so that only the ~5 % meant to be late are older
    than their town's latest claim (a run starting over would make every claim late)."""

    first_day: date
    sent: int = 0

    def bodies(self, count: int, prefix: str) -> list[bytes]:
        towns = [(p.name, p.country) for p in load_gazetteer(["IQ", "SY"], REPO / "var" / "cache").places]
        bodies = [self._report(towns, self.sent + n, f"{prefix}-{n}") for n in range(count)]
        self.sent += count
        return bodies

    def _report(self, towns: list[tuple[str, str]], i: int, report_id: str) -> bytes:
        actors = ["IS", "SAA", "ISF", "SDF", "Peshmerga", "PMF", "coalition"]
        late = 10 if i % 20 == 7 else 0
        place, country = towns[(i * 7919) % len(towns)]
        claim: dict[str, Any] = {
            "place": place,
            "country": country,
            "actor": actors[i % len(actors)],
            "share": [100, 50, 70, 30][i % 4],
            "occurred_at": (self.first_day + timedelta(days=i // 40 - late)).isoformat(),
        }
        if i % 3 == 0:
            claim["from_actor"] = actors[(i + 1) % len(actors)]
        return orjson.dumps({"id": report_id, "source": {"name": "bench"}, "claims": [claim]})


def _feed(pg: Postgres) -> Feed:
    """A feed whose first claims come a month after the log's latest."""
    with pg.connect(DB) as conn:
        latest = conn.execute("SELECT max(occurred_start) FROM events").fetchone()[0]  # type: ignore[index]
    return Feed(latest.date() + timedelta(days=30))


def _posts(api: Running, bodies: list[bytes]) -> list[Sent]:
    """The reports POSTed at RATE; each answer's position parsed (0 when not a 201)."""
    requests = [post_request(*api.address, "/v1/reports", HEADERS, body) for body in bodies]
    return paced(*api.address, requests, RATE)


def position_of(sent: Sent) -> int:
    return int(orjson.loads(sent.body)["position"]) if sent.status == 201 else 0


def _freshness_runs(env: BenchEnv, result: ScenarioResult) -> None:
    seconds, warm = env.seconds(30), env.seconds(5)
    floors = [_floor(env, result, seconds, "before")]
    feed = _feed(env.pg)
    fresh = {workers: _frontline_freshness(env, result, feed, workers, seconds, warm) for workers in (1, 2)}
    floors.append(_floor(env, result, seconds, "after"))
    # The lower floor is the stricter comparison.
    lower = min(floors, key=lambda f: f["folded"]["p99_ms"])
    result.details["freshness"] = {"floors": floors, "frontline": fresh}
    for workers, summary in fresh.items():
        _freshness_figures(result, workers, summary, lower["folded"])
    result.figures += [
        Figure("floor: commit + NOTIFY -> listener, p99", lower["written"]["p99_ms"], "ms"),
        Figure("floor: + raw folder commit + NOTIFY -> listener, p99", lower["folded"]["p99_ms"], "ms"),
    ]
    result.notes.append(
        "freshness: from each POST's answer to the first NOTIFY of a checkpoint at or past its position"
        " (0 when it came before the answer); the limit column holds the floor's same percentile;"
        " 'from the POST's send' counts the POST's own time too"
    )
    result.notes += [_freshness_note(workers, summary) for workers, summary in fresh.items()]


def _freshness_figures(
    result: ScenarioResult, workers: int, summary: dict[str, Any], folded: dict[str, Any]
) -> None:
    name = f"{workers} {'worker' if workers == 1 else 'workers'}"
    result.figures += [
        Figure(f"freshness, {name}: p50", summary["p50_ms"], "ms", limit=folded["p50_ms"]),
        Figure(f"freshness, {name}: p99", summary["p99_ms"], "ms", limit=folded["p99_ms"], target=200,
               ceiling=True,
               note="limit: the raw floor (write + NOTIFY -> folder commit + NOTIFY -> listener)"),
        Figure(f"freshness, {name}: max", summary["max_ms"], "ms", limit=folded["max_ms"]),
        Figure(f"(from the POST's send) {name}: p99", summary["from_send"]["p99_ms"], "ms"),
    ]  # fmt: skip


def _freshness_note(workers: int, summary: dict[str, Any]) -> str:
    return (
        f"freshness, {workers} worker(s): {summary['visible_before_answer']} of {summary['writes']}"
        f" reports visible before their answer reached the client; POST p50/p99"
        f" {summary['post_p50_ms']:.1f}/{summary['post_p99_ms']:.1f} ms; the client sent at worst"
        f" {summary['send_slip_max_ms']:.1f} ms late ({summary['rate']:.1f} POSTs/s)"
    )


def _frontline_freshness(
    env: BenchEnv, result: ScenarioResult, feed: Feed, workers: int, seconds: float, warm: float
) -> dict[str, Any]:
    queue = f"bench-{env.run_id}-w{workers}"
    step("freshness with %d worker(s): ingest-api --workers 2, queue %s", workers, queue)
    apis: dict[str, Api] = {"ingest-api": (["ingest-api", "--workers", "2"], {})}
    logs = RESULTS / f"projector-{env.run_id}-w{workers}"
    with production(frontline_env(env.pg.url(DB)), logs, queue, apis, workers) as stack:
        label = f"freshness, {workers} worker(s)"
        prefix = f"fresh-{env.run_id}-w{workers}"
        warm_bodies = feed.bodies(int(warm * RATE), prefix + "-warm")
        bodies = feed.bodies(int(seconds * RATE), prefix)
        with listening(env.pg.url(DB), ["frontline_projection"]) as heard:
            warmed = _posts(stack.ingest, warm_bodies)
            result.details.setdefault("warm_up_errors", {})[label] = sorted(
                {p.error for p in warmed if p.error}
            )
            posts = _metered_posts(result, label, stack.ingest, stack.workers, bodies)
            writes = [(p, position_of(p)) for p in posts]
            wait_for(env.pg, DB, CHECKPOINT, max(position for _, position in writes))
    summary = _freshness_summary(writes, heard)
    step(
        "%s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (POST p99 %.1f ms)",
        *(label, summary["p50_ms"], summary["p99_ms"], summary["max_ms"], summary["post_p99_ms"]),
    )
    _check_posts(result, label, posts, summary)
    return summary


def _metered_posts(
    result: ScenarioResult, label: str, api: Running, workers: list[int], bodies: list[bytes]
) -> list[Sent]:
    groups = {
        "harness": cpu.this_process(),
        "ingest-api": cpu.in_session(api.session),
        "workers": cpu.in_sessions(set(workers)),
        "postgres": cpu.postgres_for(DB),
    }
    metered = cpu.Meter(groups)
    metered.start()
    posts = _posts(api, bodies)
    record_cpu(result, label, metered.stop())
    return posts


def _freshness_summary(writes: list[tuple[Sent, int]], heard: list[Heard]) -> dict[str, Any]:
    times, positions = positions_heard(heard, "frontline_projection")
    answered = [(p, position) for p, position in writes if p.status == 201]
    measured = freshness([(p.answered, position) for p, position in answered], times, positions)
    # From the client's send instead: what a feed that POSTs then reads would wait in all.
    end_to_end = freshness([(p.sent, position) for p, position in answered], times, positions)
    posts = [p for p, _ in writes]
    return {
        **measured.summary(),
        "from_send": end_to_end.summary(),
        "posts": len(posts),
        "rate": (len(posts) - 1) / (posts[-1].due - posts[0].due) if len(posts) > 1 else 0.0,
        # The POSTs' own latency, and how late the client sent them (the rate held if small).
        **percentiles([(p.answered - p.sent) * 1000 for p in posts], 50, 99, prefix="post_"),
        **percentiles([(p.sent - p.due) * 1000 for p in posts], 99, prefix="send_slip_"),
        "send_slip_max_ms": max((p.sent - p.due) * 1000 for p in posts),
        "notifications": len(times),
        "errors": sorted({p.error for p in posts if p.error}),
    }


def _check_posts(result: ScenarioResult, label: str, posts: list[Sent], summary: dict[str, Any]) -> None:
    statuses = {s: sum(1 for p in posts if p.status == s) for s in {p.status for p in posts}}
    errors = summary["errors"]
    result.checks += [
        Check(
            f"{label}: every POST answered 201",
            statuses == {201: len(posts)},
            f"statuses {statuses}" + (f"; errors {errors[:3]}" if errors else ""),
        ),
        Check(
            f"{label}: every answered position seen folded",
            summary["unseen"] == 0,
            f"{summary['unseen']} unseen",
        ),
    ]


def _floor(env: BenchEnv, result: ScenarioResult, seconds: float, when: str) -> dict[str, Any]:
    """bench.measure's floor at RATE, on the scenario's database."""
    step("floor (%s): raw commit + NOTIFY at %d/s for %.0f s", when, RATE, seconds)
    summary = floor(env.pg, DB, int(seconds * RATE), 1 / RATE)
    written, folded = summary["written"], summary["folded"]
    step(
        "floor (%s): heard p99 %.2f ms; folded p50 %.2f ms, p99 %.2f ms",
        *(when, written["p99_ms"], folded["p50_ms"], folded["p99_ms"]),
    )
    unseen = folded["unseen"] + written["unseen"]
    result.checks.append(
        Check(f"floor ({when}): every write heard and folded", unseen == 0, f"{unseen} unseen")
    )
    return summary
