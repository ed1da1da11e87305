"""Scenario `live`: dashboards polling while feeds write, beside the same polls with no writes.

On a database holding bench.corpus's log (2,000 places) folded into the read models, the production
shape (ingest-api, read-api on one uvicorn worker, a `frontline worker` on a Redis queue of its own):
`GET /v1/contested` (as a bare client asks it, and as a browser does, accepting gzip) and
`GET /v1/places/{id}` under wrk -t2 -c32, with no writes, then while 20 and 200 reports a second
arrive, each claiming a random other place (a share from the corpus's mix, so the contested list
does change now and then). The polled place is never written: its pollers, with If-None-Match,
must get only 304s. The limit of each run is the same run with no writes.

Beforehand, what one read of the change feed costs the read API (bench.feed_step). Then the writes
alone, nobody reading, at each rate: the cores they take (ingest, the worker,
PostgreSQL, the read API following the change feed, the harness's POSTs) are the ones the reads
cannot have on this machine while they arrive.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from typing import Any

import httpx
import orjson

from bench import corpus, cpu, feed_step, wrk_runner
from bench.common import RESULTS, BenchEnv, Check, Figure, ScenarioResult, record_cpu, stepper
from bench.paced import post_reports
from bench.stack import Stack, frontline_env, production

DB = "bench_live"
EVENTS = 20_000
POLLED = corpus.HOT_PLACE  # never written during the runs
BROWSER = "gzip, deflate, br"  # a browser's Accept-Encoding
# What is polled: its path, and the Accept-Encoding sent ("": none, so the plain bytes).
POLLS = {
    "contested": ("/v1/contested", ""),
    "contested, gzip": ("/v1/contested", BROWSER),
    "place": (f"/v1/places/{POLLED}", ""),
}
RATES = (0.0, 20.0, 200.0)
THREADS, CONNECTIONS = 2, 32
step = stepper("live")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("live")
    names = prepare(env)
    feed_step.measure(env.pg, DB, result)
    logs = RESULTS / f"live-{env.run_id}"
    with production(frontline_env(env.pg.url(DB)), logs, f"bench-{env.run_id}-live") as stack:
        read, ingest = stack.read.base_url, stack.ingest.address
        runs, usages = {}, {}
        for kind, poll in POLLS.items():
            for rate in RATES:
                meter = _meter(stack)
                meter.start()
                runs[(kind, rate)] = _poll(env, read, poll, ingest, rate, names)
                usage = meter.stop(children_as="wrk")
                record_cpu(result, f"{kind} at {rate:g} reports/s", usage)
                usages[(kind, rate)] = usage
        untouched = _untouched_304s(env, read, ingest, names)
        alone = {rate: writes_alone(env, stack, result, rate, names) for rate in RATES[1:]}
    _figures(result, runs, untouched)
    _per_read_cpu(result, runs, usages)
    _writes_figures(result, alone)
    return result


def prepare(env: BenchEnv) -> list[str]:
    """The corpus, folded; the names of the places the writers may claim (all but the polled one)."""
    prepared = corpus.prepare(env.pg, corpus.Log(DB, 5_000 if env.quick else EVENTS), fold=20_000)
    step("corpus: %s", prepared.corpus.describe())
    with env.pg.connect(DB) as conn:
        rows = conn.execute("SELECT name FROM places WHERE place_id <> %s", (POLLED,)).fetchall()
    return [row[0] for row in rows]


def _meter(stack: Stack) -> cpu.Meter:
    """Who uses the cores during a run: the pollers' server, and what the writes cost (ingest, the
    worker, PostgreSQL's backends for this database; the harness posts them)."""
    return cpu.Meter(
        {
            "read-api": cpu.in_session(stack.read.session),
            "ingest-api": cpu.in_session(stack.ingest.session),
            "worker": cpu.in_sessions(set(stack.workers)),
            "postgres": cpu.postgres_for(DB),
            "harness": cpu.this_process(),
        }
    )


def reports_claiming(names: list[str], seed: int) -> Any:
    """Report bodies (`make(n)`), each of one claim on a random place of `names`."""
    rng = random.Random(seed)

    def make(n: int) -> bytes:
        actor, other = rng.sample(corpus.ACTORS, 2)
        claim = {"place": rng.choice(names), "actor": actor, "share": rng.choice(corpus.SHARES),
                 "from_actor": other, "occurred_at": f"2020-{1 + n % 12:02d}-{1 + n % 28:02d}"}  # fmt: skip
        return orjson.dumps({"id": uuid.uuid4().hex, "source": {"name": "bench"}, "claims": [claim]})

    return make


def writing(ingest: tuple[str, int], rate: float, seconds: float, names: list[str]) -> threading.Thread:
    count = int(rate * seconds)
    thread = threading.Thread(
        target=lambda: asyncio.run(post_reports(ingest, count, rate, reports_claiming(names, int(rate)))),
        daemon=True,
    )
    thread.start()
    return thread


def _poll(
    env: BenchEnv, read: str, poll: tuple[str, str], ingest: tuple[str, int], rate: float, names: list[str]
) -> wrk_runner.WrkRun:
    path, encoding = poll
    seconds = env.seconds(15)
    writer = writing(ingest, rate, seconds + 2, names) if rate else None
    filled = httpx.get(read + path, headers={"Accept-Encoding": encoding or "identity"}, timeout=30)
    done = wrk_runner.run_untracked(
        read, "get.lua", {"BENCH_PATH": path, "BENCH_ENCODING": encoding},
        seconds=seconds, threads=THREADS, connections=CONNECTIONS,
    )  # fmt: skip
    if writer is not None:
        writer.join()
    asked = f"{path} ({encoding or 'plain'}, {filled.headers.get('content-length', '?')} bytes)"
    rate_done = done.requests / done.seconds
    step("%s at %g reports/s: %.0f req/s, p99 %.1f ms", asked, rate, rate_done, done.p99_ms)
    return done


def _untouched_304s(env: BenchEnv, read: str, ingest: tuple[str, int], names: list[str]) -> wrk_runner.WrkRun:
    place = POLLS["place"][0]
    etag = httpx.get(read + place, headers={"Accept-Encoding": "identity"}, timeout=30).headers["etag"]
    seconds = env.seconds(15)
    writer = writing(ingest, 200.0, seconds + 2, names)
    done = wrk_runner.run(
        read, "get.lua", [], {"BENCH_PATH": place, "BENCH_ETAG": etag},
        seconds=seconds, threads=THREADS, connections=CONNECTIONS,
    )  # fmt: skip
    writer.join()
    return done


def _figures(
    result: ScenarioResult, runs: dict[tuple[str, float], wrk_runner.WrkRun], untouched: wrk_runner.WrkRun
) -> None:
    for kind in POLLS:
        idle = runs[(kind, 0.0)]
        idle_rate = idle.requests / idle.seconds
        result.figures.append(Figure(f"{kind}: req/s, no writes", idle_rate, "req/s"))
        result.figures.append(Figure(f"{kind}: p99, no writes", idle.p99_ms, "ms", target=10, ceiling=True))
        for rate in RATES[1:]:
            loaded = runs[(kind, rate)]
            result.figures += [
                Figure(f"{kind}: req/s, {rate:g} reports/s", loaded.requests / loaded.seconds, "req/s",
                       limit=idle_rate, target=0.8, note="limit: the same run with no writes"),
                Figure(f"{kind}: p99, {rate:g} reports/s", loaded.p99_ms, "ms", limit=idle.p99_ms,
                       target=10, ceiling=True),
            ]  # fmt: skip
    total = sum(untouched.statuses.values())
    share = untouched.statuses.get(304, 0) / total if total else 0.0
    result.figures.append(Figure("304s to pollers of an untouched place, 200 reports/s", share * 100, "%"))
    result.checks.append(
        Check("an untouched place is always a 304", share == 1.0, f"statuses {untouched.statuses}")
    )
    result.details.update({f"{k}@{r:g}": v.as_dict() for (k, r), v in runs.items()})


Runs = dict[tuple[str, float], wrk_runner.WrkRun]


def _per_read_cpu(result: ScenarioResult, runs: Runs, usages: dict[tuple[str, float], cpu.Usage]) -> None:
    """Requests answered per CPU-second of the read API: whether the writes make each read dearer,
    or only take the cores it would run on (two here, shared with the writers and with wrk). And
    the time it was ready to answer but waited for a core: whether it was kept off the cores, or
    idle for want of requests."""

    def per_cpu(kind: str, rate: float) -> float:
        run, used = runs[(kind, rate)], usages[(kind, rate)].groups["read-api"]
        return run.requests / run.seconds / used if used else 0.0

    for kind in POLLS:
        for rate in RATES[1:]:
            result.figures.append(
                Figure(f"(per read-API CPU-second) {kind}, {rate:g} reports/s", per_cpu(kind, rate),
                       "req/CPU-s", limit=per_cpu(kind, 0.0), note="limit: the same with no writes")
            )  # fmt: skip
        for rate in RATES:
            waited = usages[(kind, rate)].waiting.get("read-api", 0.0)
            result.figures.append(
                Figure(f"(read API waiting for a core) {kind}, {rate:g} reports/s", waited, "cores",
                       note="ready to run, its threads waited this long a second for a core")
            )  # fmt: skip


def writes_alone(env: BenchEnv, stack: Stack, result: ScenarioResult, rate: float, names: list[str]) -> float:
    """The cores the writes take at `rate` with nobody reading: ingest, the worker, PostgreSQL, the
    read API following the change feed (its cache and the stream's backlog), and the harness's POSTs."""
    seconds = env.seconds(15)
    writer = writing(stack.ingest.address, rate, seconds + 2, names)
    time.sleep(1)  # past the first reports' warm-up
    meter = _meter(stack)
    meter.start()
    time.sleep(seconds)
    usage = meter.stop()
    writer.join()
    record_cpu(result, f"writes alone at {rate:g} reports/s", usage)
    return sum(usage.groups.values())


def _writes_figures(result: ScenarioResult, alone: dict[float, float]) -> None:
    cores = len(os.sched_getaffinity(0))
    for rate, writes in alone.items():
        result.figures.append(
            Figure(f"cores the writes alone take, {rate:g} reports/s", writes, "cores", limit=cores,
                   note="ingest-api + worker + PostgreSQL + the read API following + the harness's POSTs; "
                        "limit: the machine's cores")
        )  # fmt: skip
