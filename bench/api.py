"""Scenario `api`: the read API for dashboards, beside what its own server can do for the same bytes.

On a database holding bench.corpus's log (200,000 events over 2,000 places) folded into the read
models, with `frontline read-api` on one uvicorn worker, then two:

1. the cold cost of each kind of answer: the first request after start, and cache misses forced
   by a query parameter the route ignores (the answer is computed as for any miss);
2. `GET /v1/contested` and `GET /v1/places/{id}` under wrk -t2 -c32 for 15 s, after 2 s that fill
   every worker's cache: repeated identical GETs, so cache hits by design (the read model's bytes,
   cached by position); then the same with If-None-Match holding the current ETag (304s). Each
   run alternates with the framework's ceiling for the same answer (bench.ceiling: a bare ASGI
   app serving the same bytes and headers under the same uvicorn options and worker count);
3. `as_of` and `known_at` on the place with 1,000 claims, a different time on every request (no
   cache hit possible): `as_of` at -c1 (latency alone) and -c32 (the load of 2), `known_at` at -c1.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bench import corpus, cpu, wrk_runner
from bench.common import (
    BIN,
    RESULTS,
    BenchEnv,
    BenchError,
    Check,
    Figure,
    Postgres,
    ScenarioResult,
    percentile,
    stepper,
)
from bench.stack import Running, frontline, frontline_env, server

DB = "bench_api"
EVENTS = 200_000
WORKERS = (1, 2)
THREADS, CONNECTIONS = 2, 32
PLAIN = {"Accept-Encoding": "identity"}  # what wrk sends (no header): the plain form and its ETag
PATHS = {"contested": "/v1/contested", "place": f"/v1/places/{corpus.HOT_PLACE}"}
MISSES = 30  # cold requests timed per kind
# Per kind, a query that makes a new cache key (a real computation) for each n.
MISS_QUERY: dict[str, Callable[[int], str]] = {
    "contested": lambda n: "limit=" + "0" * n + "100",  # 100, the default, spelled anew
    "place": lambda n: f"as_of=2999-01-01T00:00:{n:02d}Z",
}
step = stepper("api")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("api")
    facts = _prepare(env, result)
    for workers in WORKERS:
        _with_workers(env, result, facts, workers)
    result.notes += [
        "hit and 304 runs repeat one identical GET: every answer is a cache hit (served by the fast path"
        " before routing, no query); PostgreSQL's CPU during them, in the JSON, shows it",
        "as_of and known_at runs ask a different time on every request: every answer is a miss",
        "reads are open (no READ_API_KEYS), so no key is checked",
    ]
    return result


# The database


@dataclass(frozen=True)
class Facts:
    """What the time-travel runs range over: the hot place's valid and transaction times."""

    as_of_from: int  # Unix seconds
    as_of_span: int  # seconds
    known_at_from: int  # Unix seconds
    known_at_span: int  # microseconds
    claims: int


def _prepare(env: BenchEnv, result: ScenarioResult) -> Facts:
    events = 20_000 if env.quick else EVENTS
    step("fresh database %s, migrated, %d events appended and folded", DB, events)
    prepared = corpus.prepare(env.pg, corpus.Log(DB, events), fold=20_000)
    written, position = prepared.corpus, prepared.folded.position if prepared.folded else 0
    step("corpus: %s; folded to position %d", written.describe(), position)
    result.details["corpus"] = written.__dict__
    result.notes.append(f"corpus: {written.describe()}")
    facts = _facts(env.pg)
    result.details["time_travel_ranges"] = facts.__dict__
    return facts


def _facts(pg: Postgres) -> Facts:
    with pg.connect(DB) as conn:
        first, last, recorded_first, recorded_last, claims = conn.execute(
            "SELECT min(occurred_start), max(occurred_start), min(recorded_at), max(recorded_at), count(*)"
            " FROM rm_claims WHERE place_id = %s",
            (corpus.HOT_PLACE,),
        ).fetchone()  # type: ignore[misc]
    # as_of from a week before the first claim (an empty answer now and then) to after the last.
    start = int(first.timestamp()) - 7 * 86400
    # Rounded up: a known_at before the place was recorded is rightly a 404, not a time-travel read.
    known_from = math.ceil(recorded_first.timestamp())
    known_span = int((recorded_last.timestamp() - known_from) * 1e6) + 1_000_000
    return Facts(start, int(last.timestamp()) + 86400 - start, known_from, known_span, claims)


# The servers


@contextmanager
def _ceiling(
    env: BenchEnv, workers: int, answers: dict[str, Answer], uvicorn_protocol: bool = False
) -> Iterator[Running]:
    """bench.ceiling serving the answers Frontline gave, under the same uvicorn options (or, with
    `uvicorn_protocol`, under uvicorn's own HTTP protocol: two writes per answer)."""
    folder = RESULTS / f"api-{env.run_id}-ceiling-w{workers}{'-uvicorn' if uvicorn_protocol else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for kind, answer in answers.items():
        body_file = folder / f"{kind}.json"
        body_file.write_bytes(answer.body)
        manifest[PATHS[kind]] = {
            "body_file": str(body_file),
            "etag": answer.etag,
            "position": answer.position,
        }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    args = [str(BIN / "python"), "-m", "bench.ceiling", "--workers", str(workers)]
    if uvicorn_protocol:
        args.append("--uvicorn-protocol")
    process_env = frontline_env(env.pg.url(DB), BENCH_CEILING_MANIFEST=str(folder / "manifest.json"))
    with server(args, process_env, folder / "server.log") as running:
        yield running


@dataclass(frozen=True)
class Answer:
    body: bytes
    etag: str
    position: int


def _with_workers(env: BenchEnv, result: ScenarioResult, facts: Facts, workers: int) -> None:
    args = frontline("read-api", "--workers", str(workers))
    log = RESULTS / f"api-{env.run_id}-w{workers}-server.log"
    step("starting %s (log: %s)", " ".join(args[1:]), log)
    with ExitStack() as stack:
        frontline_api = stack.enter_context(server(args, frontline_env(env.pg.url(DB)), log))
        cold = _cold_costs(frontline_api)
        answers = {kind: _answer(frontline_api, path) for kind, path in PATHS.items()}
        ceiling = stack.enter_context(_ceiling(env, workers, answers))
        two_writes = stack.enter_context(_ceiling(env, workers, answers, uvicorn_protocol=True))
        _check_ceiling_bytes(result, ceiling, answers, workers)
        runs = _hit_runs(env, result, frontline_api, ceiling, answers, workers)
        runs |= _two_write_runs(env, result, ceiling, two_writes, answers, workers)
        travel = _time_travel_runs(env, result, frontline_api, facts, workers)
    _figures(result, workers, cold, runs, travel)
    result.details.setdefault("runs", {})[f"workers={workers}"] = {
        "cold": cold,
        "hits": {k: v.as_dict() for k, v in runs.items()},
        "time_travel": {k: v.as_dict() for k, v in travel.items()},
        "body_bytes": {k: len(a.body) for k, a in answers.items()},
    }


def _answer(frontline: Running, path: str) -> Answer:
    # As wrk asks (no Accept-Encoding): the plain form, and its ETag (the gzip form has its own).
    response = httpx.get(frontline.base_url + path, headers=PLAIN, timeout=60)
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
    return Answer(response.content, response.headers["etag"], int(response.headers["x-projection-position"]))


def _check_ceiling_bytes(
    result: ScenarioResult, ceiling: Running, answers: dict[str, Answer], workers: int
) -> None:
    for kind, answer in answers.items():
        response = httpx.get(ceiling.base_url + PATHS[kind], headers=PLAIN, timeout=10)
        result.checks.append(
            Check(
                f"{workers} worker(s): the ceiling serves {kind}'s very bytes",
                response.content == answer.body and response.headers["etag"] == answer.etag,
                f"{len(response.content)} bytes, Frontline's {len(answer.body)}",
            )
        )


# 1. Cold costs


def _cold_costs(frontline: Running) -> dict[str, dict[str, float]]:
    """Per kind: the first request after start, and MISSES forced misses (ms, client-side)."""
    costs = {}
    with httpx.Client(base_url=frontline.base_url, timeout=60) as client:
        for kind, path in PATHS.items():
            first = _timed_get(client, path)
            # A parameter the route ignores would not do: it misses the fast path, but the answer
            # cache keys on the route's own parameters and still hits. These change the key and
            # not the answer: the default limit with leading zeros, an as_of after every claim.
            misses = [_timed_get(client, f"{path}?{MISS_QUERY[kind](n)}") for n in range(MISSES)]
            costs[kind] = {
                "first_ms": first,
                "miss_p50_ms": statistics.median(misses),
                "miss_p99_ms": percentile(misses, 99),
                "hit_ms": statistics.median(_timed_get(client, path) for _ in range(MISSES)),
            }
            step(
                "cold %s: first %.1f ms, miss p50 %.1f ms, hit %.2f ms",
                kind,
                first,
                costs[kind]["miss_p50_ms"],
                costs[kind]["hit_ms"],
            )
    return costs


def _timed_get(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
    return elapsed


# 2. Hits and 304s beside the ceiling


@dataclass
class Run:
    wrk: wrk_runner.WrkRun
    usage: cpu.Usage

    @property
    def rate(self) -> float:
        return self.wrk.rate

    @property
    def bytes_per_answer(self) -> float:
        return self.wrk.bytes_read / max(1, self.wrk.requests)

    @property
    def per_server_cpu(self) -> float:
        """Answers per CPU-second of the server's processes: on a machine others keep busy, this
        compares work with work whatever CPU the server was left."""
        cores = self.usage.groups["server"]
        return self.rate / cores if cores else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_per_s": self.rate,
            "per_server_cpu_second": self.per_server_cpu,
            "bytes_per_answer": self.bytes_per_answer,
            "latency_ms": self.wrk.latencies,
            "cpu": self.usage.as_dict(),
            "wrk": {k: v for k, v in self.wrk.as_dict().items() if k != "statuses"},
        }


def _wrk(
    env: BenchEnv,
    result: ScenarioResult,
    target: Running,
    label: str,
    script: str,
    extra: dict[str, str],
    connections: int,
    warm: bool = False,
) -> Run:
    options = {"threads": min(THREADS, connections), "connections": connections}
    if warm:
        # Each uvicorn worker keeps its own cache: without this, a worker's first miss (a quarter
        # of a second for /v1/contested) would stall its connections inside the measured run.
        wrk_runner.run_untracked(target.base_url, script, extra, seconds=2, **options)
    meter = cpu.Meter({"server": cpu.in_session(target.session), "postgres": cpu.postgres_for(DB)})
    meter.start()
    done = wrk_runner.run_untracked(target.base_url, script, extra, seconds=env.seconds(15), **options)
    run = Run(done, meter.stop(children_as="wrk"))
    result.checks.append(
        Check(
            f"{label}: no error answers, no socket errors",
            done.non_2xx == 0 and sum(done.socket_errors.values()) == 0,
            f"{done.requests} answers, {done.non_2xx} non-2xx/3xx,"
            f" socket errors {done.socket_errors or 'none'}",
        )
    )
    step("%s: %.0f requests/s, p50 %.2f ms, p99 %.2f ms; %s", label, run.rate, done.p50_ms, done.p99_ms,
         run.usage.describe())  # fmt: skip
    return run


def _hit_runs(
    env: BenchEnv,
    result: ScenarioResult,
    frontline: Running,
    ceiling: Running,
    answers: dict[str, Answer],
    workers: int,
) -> dict[str, Run]:
    """For each kind, 200s then 304s: the ceiling and Frontline back to back, so that the
    machine's swings fall on both alike."""
    runs: dict[str, Run] = {}
    for kind, answer in answers.items():
        for conditional in (False, True):
            targets = {"ceiling": ceiling, "frontline": frontline}
            runs |= _in_turns(env, result, targets, kind, answer, conditional, workers)
    return runs


def _two_write_runs(
    env: BenchEnv,
    result: ScenarioResult,
    ceiling: Running,
    two_writes: Running,
    answers: dict[str, Answer],
    workers: int,
) -> dict[str, Run]:
    """What sending each answer in one write saves (services.web.protocol): the ceiling's hits
    under uvicorn's own protocol, then again under the servers' one, back to back."""
    runs: dict[str, Run] = {}
    for kind, answer in answers.items():
        targets = {"uvicorn protocol": two_writes, "one write": ceiling}
        runs |= _in_turns(env, result, targets, kind, answer, False, workers)
    return runs


def _in_turns(
    env: BenchEnv,
    result: ScenarioResult,
    targets: dict[str, Running],
    kind: str,
    answer: Answer,
    conditional: bool,
    workers: int,
) -> dict[str, Run]:
    """One poll (a hit, or a 304 when `conditional`) of `kind`'s answer, on each target in turn:
    by `<target name> <kind> <hit|304>`."""
    extra = {"BENCH_PATH": PATHS[kind], "BENCH_ETAG": answer.etag if conditional else ""}
    what = f"{kind} {'304' if conditional else 'hit'}"
    runs = {}
    for name, target in targets.items():
        label = f"{workers} worker(s), {name}: {what}"
        runs[f"{name} {what}"] = run = _wrk(
            env, result, target, label, "get.lua", extra, CONNECTIONS, warm=True
        )
        _check_answer_size(result, label, run, answer, conditional)
    return runs


def _check_answer_size(
    result: ScenarioResult, label: str, run: Run, answer: Answer, conditional: bool
) -> None:
    """wrk cannot say which status came back; the bytes it read per answer can: a 200 carries the
    body, a 304 only headers (under 400 bytes here)."""
    if conditional:
        ok, expected = run.bytes_per_answer < 400, "under 400 (headers only: 304s)"
    else:
        ok, expected = run.bytes_per_answer >= len(answer.body), f"at least the body's {len(answer.body)}"
    result.checks.append(
        Check(
            f"{label}: bytes per answer as expected",
            ok,
            f"{run.bytes_per_answer:.0f} bytes per answer, {expected}",
        )
    )


# 3. Time travel


def _time_travel_runs(
    env: BenchEnv, result: ScenarioResult, frontline: Running, facts: Facts, workers: int
) -> dict[str, Run]:
    runs = {}
    ranges = {
        "as_of": (facts.as_of_from, facts.as_of_span, "s"),
        "known_at": (facts.known_at_from, facts.known_at_span, "us"),
    }
    for param, (start, span, unit) in ranges.items():
        extra = {
            "BENCH_PATH": PATHS["place"],
            "BENCH_PARAM": param,
            "BENCH_FROM": str(start),
            "BENCH_SPAN": str(span),
            "BENCH_UNIT": unit,
        }
        # known_at re-folds the place's whole history: one connection is enough to see its cost.
        for connections in (1, CONNECTIONS) if param == "as_of" else (1,):
            label = f"{workers} worker(s): {param}, -c{connections}"
            runs[f"{param} c{connections}"] = _wrk(
                env, result, frontline, label, "time_travel.lua", extra, connections
            )
    return runs


# Figures


def _figures(
    result: ScenarioResult,
    workers: int,
    cold: dict[str, dict[str, float]],
    runs: dict[str, Run],
    travel: dict[str, Run],
) -> None:
    w = f"{workers}w"
    for kind in PATHS:
        for what in ("hit", "304"):
            result.figures += _hit_figures(f"{w} {kind}, {what}", runs[f"frontline {kind} {what}"],
                                           runs[f"ceiling {kind} {what}"])  # fmt: skip
        one, two = runs[f"one write {kind} hit"], runs[f"uvicorn protocol {kind} hit"]
        result.figures.append(
            Figure(f"{w} {kind}, hit: the ceiling in one write per answer", one.rate, "req/s", limit=two.rate,
                   note="limit: the same ceiling under uvicorn's own protocol (head and body in two writes)")
        )  # fmt: skip
        result.figures += [
            Figure(f"{w} {kind}, cold: first request", cold[kind]["first_ms"], "ms"),
            Figure(f"{w} {kind}, cold: miss p50 (of {MISSES})", cold[kind]["miss_p50_ms"], "ms"),
        ]
    alone, loaded, known = travel["as_of c1"], travel[f"as_of c{CONNECTIONS}"], travel["known_at c1"]
    result.figures += [
        Figure(f"{w} as_of (misses), -c1: p50", alone.wrk.p50_ms, "ms"),
        Figure(f"{w} as_of (misses), -c1: p99", alone.wrk.p99_ms, "ms", target=20, ceiling=True),
        Figure(f"{w} as_of (misses), -c{CONNECTIONS}: requests/s", loaded.rate, "req/s"),
        Figure(f"{w} as_of (misses), -c{CONNECTIONS}: p99", loaded.wrk.p99_ms, "ms", target=20, ceiling=True),
        Figure(f"{w} known_at (misses), -c1: p50", known.wrk.p50_ms, "ms"),
        Figure(f"{w} known_at (misses), -c1: p99", known.wrk.p99_ms, "ms"),
    ]


def _hit_figures(name: str, mine: Run, bare: Run) -> list[Figure]:
    """Frontline's hits or 304s beside the ceiling's (the limit column)."""
    return [
        Figure(f"{name}: requests/s", mine.rate, "req/s", limit=bare.rate, target=0.5),
        Figure(f"(per server CPU-second) {name}", mine.per_server_cpu, "req/CPU-s",
               limit=bare.per_server_cpu),
        Figure(f"{name}: p99", mine.wrk.p99_ms, "ms", limit=bare.wrk.p99_ms, target=10, ceiling=True,
               note="limit column: the ceiling's p99"),
    ]  # fmt: skip
