"""Scenario `projector`: the RQ projector's catch-up speed and freshness, beside the machine's own.

1. Catch-up: a log of 200,000 realistic events (bench.corpus) and empty read models; the time
   `services.projector.runner.catch_up` takes, in-process as a worker's job runs it, from empty to
   the log's head, at the default batch size and one larger, and once more with Python's cyclic
   garbage collector off (a diagnostic: how much of the time is the collector's). Each run sits
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson
import psycopg
import redis
from psycopg.types.json import set_json_loads
from rq import Queue, Worker

from bench import corpus, cpu
from bench.common import (
    BIN,
    REDIS_URL,
    REPO,
    RESULTS,
    BenchEnv,
    BenchError,
    Check,
    Figure,
    Postgres,
    Running,
    ScenarioResult,
    background,
    console,
    forget_queue,
    free_port,
    fresh_database,
    frontline_env,
    migrate,
    server,
)
from bench.listen import Folder, Heard, Listener, clock, freshness, percentile, positions_heard
from bench.paced import Sent, paced, post_request
from services.gazetteer import load as load_gazetteer
from services.projector import runner
from services.store import control_store, event_log
from services.store.database import Database

DB = "bench_projector"
EVENTS = 200_000
# (batch size, cyclic GC on): the default PROJECTION_BATCH_SIZE, a larger one, and the diagnostic.
CATCH_UPS = ((5000, True), (20_000, True), (5000, False))
RATE = 200  # reports per second in the freshness runs
KEY = "bench"
CHECKPOINT = "SELECT position FROM projections WHERE name = 'control'"
READ_COLUMNS = (
    "position, event_id, type, schema_version, stream_id, stream_version, occurred_at,"
    " occurred_start, recorded_at, request_id, target_event_id, data"
)  # what event_log.read_after reads


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("projector")
    events = 20_000 if env.quick else EVENTS
    step("fresh database %s, migrated, %d events appended", DB, events)
    fresh_database(env.pg, DB)
    migrate(env.pg, DB)
    written = corpus.write(env.pg, DB, events)
    step("corpus: %s", written.describe())
    result.details["corpus"] = written.__dict__
    result.notes.append(f"corpus: {written.describe()}")
    _catch_ups(env, result)
    _freshness_runs(env, result)
    return result


def step(message: str, *args: object) -> None:
    console.log(f"[bold]projector[/] {message % args}")


def sqlalchemy_url(pg: Postgres, dbname: str = DB) -> str:
    """The URL Frontline's engine takes (the services normalise it the same way)."""
    return pg.url(dbname).replace("postgresql://", "postgresql+psycopg://", 1)


def _record_cpu(result: ScenarioResult, label: str, usage: cpu.Usage) -> None:
    step("CPU during the %s: %s", label, usage.describe())
    result.details.setdefault("cpu", {})[label] = usage.as_dict()
    result.notes.append(f"CPU during the {label}: {usage.describe()}")


# 1. Catch-up


@dataclass
class Reading:
    """A rate, and the same per CPU-second spent by the harness and PostgreSQL together: on a
    machine others keep busy, the second compares work with work whatever CPU was left."""

    rate: float  # events/s
    per_cpu: float  # events per CPU-second


def _meter() -> cpu.Meter:
    return cpu.Meter({"harness": cpu.this_process(), "postgres": cpu.postgres_for(DB)})


def _per_cpu(events: int, usage: cpu.Usage) -> float:
    spent = usage.seconds * (usage.groups["harness"] + usage.groups["postgres"])
    return events / spent if spent else 0.0


def limit_read(pg: Postgres, batch: int = 5000) -> Reading:
    """The machine's limit: events streamed in position order by a server-side cursor, each row a
    tuple of Python objects with its JSON decoded (by orjson, as Frontline's engine does)."""
    with pg.connect(DB) as conn:
        set_json_loads(orjson.loads, conn)
        meter = _meter()  # once the backend exists, so that it is measured
        meter.start()
        start, count = time.perf_counter(), 0
        with conn.cursor(name="limit") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT {READ_COLUMNS} FROM events ORDER BY position")
            while rows := cur.fetchmany(batch):
                count += len(rows)
        seconds = time.perf_counter() - start
        usage = meter.stop()
    return Reading(count / seconds, _per_cpu(count, usage))


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
        return f"batch {self.batch_size:,}" + ("" if self.gc_enabled else ", cyclic GC off")


# Where a catch-up spends its time: (module or class, function name, label). Looked up at run time
# and skipped when absent, so that a renamed function does not break the benchmark.
STAGES: tuple[tuple[Any, str, str], ...] = (
    (event_log, "read_after", "read events (event_log.read_after)"),
    (runner, "project_batch", "fold (project_batch), loads included"),
    (control_store.ControlReader, "place_states", "  load place states"),
    (control_store.ControlReader, "refold_context", "  load re-fold context"),
    (runner, "write_batch", "write read models (write_batch)"),
    (control_store, "_insert_claims", "  COPY new claims"),
    (control_store, "_restate_claims", "  restate claims"),
    (control_store, "_write_places", "  rewrite place states and holdings"),
)


@contextmanager
def stage_clock() -> Iterator[dict[str, float]]:
    """Time the catch-up's stages by wrapping their functions for the block (a diagnostic: the
    services are not changed, only observed; each wrap costs a microsecond per call)."""
    spent: dict[str, float] = {}
    originals = []
    for owner, name, label in STAGES:
        original = getattr(owner, name, None)
        if original is None:
            continue
        originals.append((owner, name, original))
        setattr(owner, name, _timed(original, label, spent))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed(function: Callable[..., Any], label: str, spent: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

    return timed


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
    """`catch_up` from empty read models to the log's head, as a worker's job calls it."""
    gc.collect()
    if not gc_enabled:
        gc.disable()
    try:
        with stage_clock() as stages, gc_clock() as collector:
            start = time.perf_counter()
            done = runner.catch_up(db, batch_size=batch_size)
            seconds = time.perf_counter() - start
    finally:
        gc.enable()
    return CatchUpRun(
        batch_size,
        gc_enabled,
        done.events,
        seconds,
        done.caught_up,
        collector["seconds"],
        collector["collections"],
        stages,
    )


def _catch_ups(env: BenchEnv, result: ScenarioResult) -> None:
    limits = [_limit(env, "before the first catch-up")]
    runs = []
    for batch_size, gc_enabled in CATCH_UPS:
        reset_read_models(env.pg)
        step("catch-up, batch size %d%s", batch_size, "" if gc_enabled else ", cyclic GC off")
        done = _metered_catch_up(env, result, batch_size, gc_enabled)
        _check_catch_up(env.pg, result, done)
        limits.append(_limit(env, f"after the catch-up ({done.label})"))
        done.limit = Reading(max(r.rate for r in limits[-2:]), max(r.per_cpu for r in limits[-2:]))
        runs.append(done)
    result.details["limit_reads"] = [r.__dict__ for r in limits]
    result.details["catch_ups"] = [{**r.__dict__, "limit": r.limit.__dict__, "rate": r.rate} for r in runs]
    _catch_up_figures(result, runs)


def _metered_catch_up(env: BenchEnv, result: ScenarioResult, batch_size: int, gc_enabled: bool) -> CatchUpRun:
    db = Database(sqlalchemy_url(env.pg), pool_size=2)
    with db.snapshot():  # connected before the meter starts, so that its backend is measured
        pass
    meter = _meter()
    meter.start()
    try:
        done = timed_catch_up(db, batch_size, gc_enabled)
        usage = meter.stop()  # before the backend goes with the pool
    finally:
        db.dispose()
    done.per_cpu = _per_cpu(done.events, usage)
    _record_cpu(result, f"catch-up ({done.label})", usage)
    step("%s: %d events in %.1f s, %.0f events/s", done.label, done.events, done.seconds, done.rate)
    return done


def _limit(env: BenchEnv, label: str) -> Reading:
    reading = limit_read(env.pg)
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
        fingerprint = _fingerprint(conn)
    position = checkpoint[0] if checkpoint else None
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
    ]
    first = result.details.setdefault("fingerprint", fingerprint)
    result.checks.append(
        Check(
            f"catch-up ({done.label}): read models identical to the first run's",
            fingerprint == first,
            "batch boundaries must not change what is folded",
        )
    )


def _fingerprint(conn: psycopg.Connection[Any]) -> list[str]:
    """An order-independent digest of every read-model row (a sum of 64-bit row hashes)."""
    tables = ("rm_place_state", "rm_holdings", "rm_claims", "rm_claim_places")
    return [
        str(
            conn.execute(f"SELECT count(*), sum(hashtextextended(t::text, 0)::numeric) FROM {t} t").fetchone()
        )
        for t in tables
    ]


def _catch_up_figures(result: ScenarioResult, runs: list[CatchUpRun]) -> None:
    for done in runs:
        diagnostic = not done.gc_enabled
        result.figures += [
            Figure(
                ("(diagnostic) " if diagnostic else "") + f"catch-up from empty, {done.label}",
                done.rate,
                "events/s",
                limit=done.limit.rate,
                target=None if diagnostic else 0.35,
                note="limit: raw psycopg streaming the same events, the better reading around the run",
            ),
            Figure(
                f"(per CPU-second) catch-up, {done.label}",
                done.per_cpu,
                "events/CPU-s",
                limit=done.limit.per_cpu,
                note="events per CPU-second of the harness and PostgreSQL, both sides",
            ),
        ]
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
        actors = ["IS", "SAA", "ISF", "SDF", "Peshmerga", "PMF", "coalition"]
        bodies = []
        for n in range(count):
            i = self.sent + n
            late = 10 if i % 20 == 7 else 0
            claim: dict[str, Any] = {
                "place": towns[(i * 7919) % len(towns)][0],
                "country": towns[(i * 7919) % len(towns)][1],
                "actor": actors[i % len(actors)],
                "share": [100, 50, 70, 30][i % 4],
                "occurred_at": (self.first_day + timedelta(days=i // 40 - late)).isoformat(),
            }
            if i % 3 == 0:
                claim["from_actor"] = actors[(i + 1) % len(actors)]
            report = {"id": f"{prefix}-{n}", "source": {"name": "bench"}, "claims": [claim]}
            bodies.append(orjson.dumps(report))
        self.sent += count
        return bodies


def _feed(pg: Postgres) -> Feed:
    """A feed whose first claims come a month after the log's latest."""
    with pg.connect(DB) as conn:
        latest = conn.execute("SELECT max(occurred_start) FROM events").fetchone()[0]  # type: ignore[index]
    return Feed(latest.date() + timedelta(days=30))


def _posts(api: Running, bodies: list[bytes]) -> list[Sent]:
    """The reports POSTed at RATE; each answer's position parsed (0 when not a 201)."""
    host, port = api.base_url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    requests = [post_request(host, int(port), "/v1/reports", headers, body) for body in bodies]
    return paced(host, int(port), requests, RATE)


def position_of(sent: Sent) -> int:
    return int(orjson.loads(sent.body)["position"]) if sent.status == 201 else 0


def _freshness_runs(env: BenchEnv, result: ScenarioResult) -> None:
    seconds, warm = env.seconds(30), env.seconds(5)
    floors = [_floor(env, result, seconds, "before")]
    feed = _feed(env.pg)
    fresh = {workers: _frontline_freshness(env, result, feed, workers, seconds, warm) for workers in (1, 2)}
    floors.append(_floor(env, result, seconds, "after"))
    # The lower floor is the stricter comparison.
    floor = min(floors, key=lambda f: f["folded"]["p99_ms"])
    result.details["freshness"] = {"floors": floors, "frontline": fresh}
    _freshness_figures(result, fresh, floor)


def _freshness_figures(
    result: ScenarioResult, fresh: dict[int, dict[str, Any]], floor: dict[str, Any]
) -> None:
    for workers, summary in fresh.items():
        noun = "worker" if workers == 1 else "workers"
        result.figures += [
            Figure(
                f"freshness, {workers} {noun}: p50", summary["p50_ms"], "ms", limit=floor["folded"]["p50_ms"]
            ),
            Figure(
                f"freshness, {workers} {noun}: p99",
                summary["p99_ms"],
                "ms",
                limit=floor["folded"]["p99_ms"],
                target=200,
                ceiling=True,
                note="limit: the raw floor (write + NOTIFY -> folder commit + NOTIFY -> listener)",
            ),
            Figure(
                f"freshness, {workers} {noun}: max", summary["max_ms"], "ms", limit=floor["folded"]["max_ms"]
            ),
            Figure(f"(from the POST's send) {workers} {noun}: p99", summary["from_send"]["p99_ms"], "ms"),
        ]
    result.figures += [
        Figure("floor: commit + NOTIFY -> listener, p99", floor["written"]["p99_ms"], "ms"),
        Figure("floor: + raw folder commit + NOTIFY -> listener, p99", floor["folded"]["p99_ms"], "ms"),
    ]
    result.notes.append(
        "freshness: from each POST's answer to the first NOTIFY of a checkpoint at or past its position"
        " (0 when it came before the answer); the limit column holds the floor's same percentile;"
        " 'from the POST's send' counts the POST's own time too"
    )
    for workers, summary in fresh.items():
        result.notes.append(
            f"freshness, {workers} worker(s): {summary['visible_before_answer']} of {summary['writes']}"
            f" reports visible before their answer reached the client; POST p50/p99"
            f" {summary['post_p50_ms']:.1f}/{summary['post_p99_ms']:.1f} ms; the client sent at worst"
            f" {summary['send_slip_max_ms']:.1f} ms late ({summary['rate']:.1f} POSTs/s)"
        )


def _frontline_freshness(
    env: BenchEnv, result: ScenarioResult, feed: Feed, workers: int, seconds: float, warm: float
) -> dict[str, Any]:
    queue = f"bench-{env.run_id}-w{workers}"
    extra = {"INGEST_API_KEYS": KEY, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}
    process_env = frontline_env(env.pg, DB, **extra)
    port = free_port()
    log = RESULTS / f"projector-{env.run_id}-w{workers}"
    args = [str(BIN / "frontline"), "ingest-api", "--port", str(port), "--workers", "2"]
    step("freshness with %d worker(s): %s, queue %s", workers, " ".join(args[1:]), queue)
    try:
        with ExitStack() as stack:
            api = stack.enter_context(server(args, process_env, port, log.with_suffix(".ingest.log")))
            procs = [
                stack.enter_context(
                    background(
                        [str(BIN / "frontline"), "worker"], process_env, log.with_suffix(f".worker{n}.log")
                    )
                )
                for n in range(workers)
            ]
            _wait_for_workers(queue, workers)
            return _measure_freshness(env, result, feed, api, [p.pid for p in procs], seconds, warm)
    finally:
        forget_queue(queue)


def _wait_for_workers(queue: str, count: int, timeout: float = 60) -> None:
    connection = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=connection, queue=Queue(queue, connection=connection))) < count:
        if time.monotonic() > deadline:
            raise BenchError(f"{count} worker(s) did not register on queue {queue} within {timeout:.0f} s")
        time.sleep(0.2)


def _measure_freshness(
    env: BenchEnv,
    result: ScenarioResult,
    feed: Feed,
    api: Running,
    workers: list[int],
    seconds: float,
    warm: float,
) -> dict[str, Any]:
    label = f"freshness, {len(workers)} worker(s)"
    prefix = f"fresh-{env.run_id}-w{len(workers)}"
    warm_bodies = feed.bodies(int(warm * RATE), prefix + "-warm")
    bodies = feed.bodies(int(seconds * RATE), prefix)
    listener = Listener(env.pg.url(DB), ["frontline_projection"]).start()
    warmed = _posts(api, warm_bodies)
    result.details.setdefault("warm_up_errors", {})[label] = sorted({p.error for p in warmed if p.error})
    groups = {
        "harness": cpu.this_process(),
        "ingest-api": cpu.in_session(api.session),
        "workers": lambda _pid, session, _c: session in workers,
        "postgres": cpu.postgres_for(DB),
    }
    meter = cpu.Meter(groups)
    meter.start()
    posts = _posts(api, bodies)
    _record_cpu(result, label, meter.stop())
    writes = [(p, position_of(p)) for p in posts]
    _wait_for_position(env.pg, CHECKPOINT, max(position for _, position in writes))
    summary = _freshness_summary(writes, listener.stop())
    step(
        "%s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (POST p99 %.1f ms)",
        label,
        summary["p50_ms"],
        summary["p99_ms"],
        summary["max_ms"],
        summary["post_p99_ms"],
    )
    _check_posts(result, label, posts, summary)
    return summary


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
        "post_p50_ms": percentile([(p.answered - p.sent) * 1000 for p in posts], 50),
        "post_p99_ms": percentile([(p.answered - p.sent) * 1000 for p in posts], 99),
        "send_slip_p99_ms": percentile([(p.sent - p.due) * 1000 for p in posts], 99),
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


def _wait_for_position(pg: Postgres, query: str, position: int, timeout: float = 30) -> None:
    """Wait until `query` (a checkpoint's position) reaches `position`: the last write is folded."""
    deadline = time.monotonic() + timeout
    with pg.connect(DB, autocommit=True) as conn:
        while True:
            row = conn.execute(query).fetchone()  # type: ignore[arg-type]
            if row and row[0] >= position:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{query!r} did not reach position {position} within {timeout:.0f} s")
            time.sleep(0.1)


def _floor(env: BenchEnv, result: ScenarioResult, seconds: float, when: str) -> dict[str, Any]:
    """Raw writes at RATE, each committed with a NOTIFY; a raw folder hearing them and committing a
    checkpoint with its own NOTIFY; a listener hearing both."""
    step("floor (%s): raw commit + NOTIFY at %d/s for %.0f s", when, RATE, seconds)
    url = env.pg.url(DB)
    with env.pg.connect(DB) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor_log (id bigserial PRIMARY KEY, data jsonb NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS floor_checkpoint (position bigint NOT NULL)")
        conn.execute("TRUNCATE floor_checkpoint")
        conn.execute("INSERT INTO floor_checkpoint VALUES (0)")
    listener = Listener(url, ["bench_written", "bench_folded"]).start()
    with Folder(url):
        writes = _paced_raw_writes(env.pg, int(seconds * RATE))
        _wait_for_position(env.pg, "SELECT position FROM floor_checkpoint", writes[-1][1])
    heard = listener.stop()
    summary = {}
    for channel, name in (("bench_written", "written"), ("bench_folded", "folded")):
        times, positions = positions_heard(heard, channel)
        summary[name] = freshness(writes, times, positions).summary()
    step(
        "floor (%s): heard p99 %.2f ms; folded p50 %.2f ms, p99 %.2f ms",
        when,
        summary["written"]["p99_ms"],
        summary["folded"]["p50_ms"],
        summary["folded"]["p99_ms"],
    )
    unseen = summary["folded"]["unseen"] + summary["written"]["unseen"]
    result.checks.append(
        Check(f"floor ({when}): every write heard and folded", unseen == 0, f"{unseen} unseen")
    )
    return summary


def _paced_raw_writes(pg: Postgres, count: int) -> list[tuple[float, int]]:
    """(commit returned at, id) of `count` rows, one commit each, paced at RATE."""
    data = orjson.dumps(
        {"place_id": "mosul-iq", "actor_id": "islamic-state", "share": 100.0, "occurred_at": "2020-01-01"}
    ).decode()
    insert = (
        "WITH w AS (INSERT INTO floor_log (data) VALUES (%s::jsonb) RETURNING id)"
        " SELECT id, pg_notify('bench_written', id::text) FROM w"
    )
    done = []
    with pg.connect(DB) as conn:
        start = clock() + 0.1
        for i in range(count):
            if (delay := start + i / RATE - clock()) > 0:
                time.sleep(delay)
            (row_id, _) = conn.execute(insert, (data,)).fetchone()  # type: ignore[misc]
            conn.commit()
            done.append((clock(), int(row_id)))
    return done
