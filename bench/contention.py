"""Scenario `contention`: what the writes cost the pollers, beside what a plain CPU load of the same
size costs them on this machine.

The live scenario's limit for a poll while reports arrive is the same poll with no writes. On a
machine whose cores the read API, wrk and every writer share, part of what the writes take from
the pollers is the machine's, whatever the writes do with the cores they take: this scenario
measures that part, so that the rest (what the writes cost beyond it) can be told apart.

On the live scenario's database and production stack: first the cores the writes alone take at
200 reports a second, nobody reading (as live measures them). Then `GET /v1/contested` (plain: the
55 KB answer, live's first poll) under wrk -t2 -c32, in rounds; each round runs, in turn:
- no writes (the round's limit);
- 200 reports a second, as live;
- a plain CPU load (bench.burn) of as many cores as the writes alone took, in bursts every 5, 20
  and 50 ms (the writes come in bursts too: the worker folds about every 40 ms, and ingest,
  PostgreSQL and the read API's change feed follow its rhythm).
Each figure is the median over the rounds, beside the no-writes runs'. The last figures set the
writes beside each load: at 1 or above, the writes cost the pollers no more than a plain load that
takes the same cores in such bursts does.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench import cpu, live, wrk_runner
from bench.common import RESULTS, BenchEnv, Figure, ScenarioResult, stepper
from bench.stack import frontline_env, production

PATH = "/v1/contested"
RATE = 200.0  # reports a second
PERIODS_MS = (5, 20, 50)
ROUNDS = 3
IDLE, WRITES = "no writes", f"{RATE:g} reports/s"
step = stepper("contention")


def load_name(period_ms: int) -> str:
    return f"a load of the writes' cores, {period_ms} ms bursts"


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("contention")
    names = live.prepare(env)
    logs = RESULTS / f"contention-{env.run_id}"
    rates: dict[str, list[float]] = {}
    loads: list[float] = []  # the cores each load took, as measured
    with production(frontline_env(env.pg.url(live.DB)), logs, f"bench-{env.run_id}-contention") as stack:
        cores = live.writes_alone(env, stack, result, RATE, names)
        read, ingest = stack.read.base_url, stack.ingest.address
        for _ in range(env.repeats(ROUNDS)):
            rates.setdefault(IDLE, []).append(_poll(env, read))
            rates.setdefault(WRITES, []).append(_poll_while_writing(env, read, ingest, names))
            for period in PERIODS_MS:
                with _load(cores, period) as meter:
                    rates.setdefault(load_name(period), []).append(_poll(env, read))
                    loads.append(meter.stop().groups["load"])
            step("%s, req/s: %s", PATH, ", ".join(f"{name} {rate[-1]:.0f}" for name, rate in rates.items()))
    _figures(result, cores, statistics.median(loads), rates)
    return result


def _poll(env: BenchEnv, read: str) -> float:
    done = wrk_runner.run_untracked(
        read, "get.lua", {"BENCH_PATH": PATH, "BENCH_ENCODING": ""},
        seconds=env.seconds(10), threads=live.THREADS, connections=live.CONNECTIONS,
    )  # fmt: skip
    return done.requests / done.seconds


def _poll_while_writing(env: BenchEnv, read: str, ingest: tuple[str, int], names: list[str]) -> float:
    writer = live.writing(ingest, RATE, env.seconds(10) + 2, names)
    try:
        return _poll(env, read)
    finally:
        writer.join()


@contextmanager
def _load(cores: float, period_ms: int) -> Iterator[cpu.Meter]:
    """bench.burn taking `cores` in bursts every `period_ms` while the block runs; the meter of its
    CPU, started (stopped in the block: its processes end with it)."""
    burner = subprocess.Popen(
        [sys.executable, "-m", "bench.burn", f"{cores:.3f}", str(period_ms)], start_new_session=True
    )
    time.sleep(0.5)  # both its processes running
    meter = cpu.Meter({"load": cpu.in_session(burner.pid)})
    meter.start()
    try:
        yield meter
    finally:
        os.killpg(burner.pid, signal.SIGKILL)
        burner.wait()


def _figures(result: ScenarioResult, cores: float, load: float, rates: dict[str, list[float]]) -> None:
    machine = len(os.sched_getaffinity(0))
    idle = statistics.median(rates[IDLE])
    result.figures += [
        Figure(f"cores the writes alone take, {WRITES}", cores, "cores", limit=machine,
               note="limit: the machine's cores"),
        Figure("cores the plain load took (median of its runs)", load, "cores", limit=cores,
               note="limit: the writes alone's"),
        Figure(f"{PATH} (plain), no writes (median of rounds)", idle, "req/s"),
    ]  # fmt: skip
    for name, rounds in rates.items():
        if name != IDLE:
            result.figures.append(Figure(f"{PATH} (plain), {name}", statistics.median(rounds), "req/s",
                                         limit=idle, note="limit: no writes"))  # fmt: skip
    writes = statistics.median(rates[WRITES])
    for period in PERIODS_MS:
        load_rate = statistics.median(rates[load_name(period)])
        result.figures.append(
            Figure(f"{PATH} (plain), {WRITES}, beside {load_name(period)}", writes, "req/s", limit=load_rate,
                   note="limit: the load's run; at 1 or above, the writes cost the pollers no more than it")
        )  # fmt: skip
    result.details["rates"] = rates
