"""Scenario `aging`: does a report cost more as the service lives? From an empty database.

A fresh, migrated, empty database and the production shape (ingest-api, read-api, a worker), then
reports at 200 a second in consecutive phases, each claiming a place of the gazetteer (new places
are recorded on the way). Per phase: the CPU each report costs ingest and PostgreSQL (its backends
for this database, autovacuum's included, and the background processes of every PostgreSQL server
on the machine: the bench's own server's too while the throwaway one runs, a few hundredths of a
core), beside the same in the first phase, the run's own limit.

A cost that grows with the reports recorded is a plan gone stale: a connection keeps the plan of a
statement it prepared while the tables were small until they are analyzed, which autovacuum does as
they grow (README: Operations). So the scenario runs twice: on the bench's server, as it is set
(this machine's runs with autovacuum off), and on a throwaway server of its own with PostgreSQL's
defaults (autovacuum on, a look every minute).
"""

from __future__ import annotations

import asyncio

from bench import cpu
from bench.common import (
    REPO,
    RESULTS,
    BenchEnv,
    BenchError,
    Check,
    Figure,
    Postgres,
    ScenarioResult,
    record_cpu,
    stepper,
)
from bench.live import reports_claiming
from bench.paced import post_reports
from bench.stack import Stack, fresh_migrated, frontline_env, production
from services.gazetteer import load as load_gazetteer
from tests.support.servers import ThrowawayPostgres, postgres_bin_dir

DB = "bench_aging"
RATE = 200.0
PHASES = 6  # of 15 s: past the first minute, when a default autovacuum first looks
step = stepper("aging")


def run(env: BenchEnv) -> ScenarioResult:
    bin_dir = postgres_bin_dir()  # asked first: the first server's phases take a minute and a half
    if bin_dir is None:
        raise BenchError("PostgreSQL's initdb and pg_ctl are not installed")
    result = ScenarioResult("aging")
    names = _unambiguous_names()
    _age(env, env.pg, result, names)
    defaults = ThrowawayPostgres(bin_dir)
    try:
        defaults.init()
        defaults.start()
        _age(env, Postgres(port=defaults.port, user="postgres"), result, names)
    finally:
        defaults.destroy()
    return result


def _age(env: BenchEnv, pg: Postgres, result: ScenarioResult, names: list[str]) -> None:
    """The phases on the server `pg`, into `result`'s figures."""
    fresh_migrated(pg, DB)
    server = f"autovacuum {_setting(pg, 'autovacuum')}"
    step("on a server with %s", server)
    costs: list[tuple[int, float, float]] = []  # reports recorded before; ms per report: ingest, postgres
    logs = RESULTS / f"aging-{env.run_id}-{pg.port}"
    with production(frontline_env(pg.url(DB)), logs, f"bench-{env.run_id}-aging") as stack:
        for phase in range(env.repeats(PHASES)):
            before = _recorded(pg)
            costs.append((before, *_phase(env, stack, result, names, server, phase)))
    _figures(result, server, costs)


def _setting(pg: Postgres, name: str) -> str:
    with pg.connect(DB) as conn:
        row = conn.execute(f"SHOW {name}").fetchone()
    return str(row[0]) if row else "?"


def _recorded(pg: Postgres) -> int:
    """The reports recorded so far (their idempotency rows)."""
    with pg.connect(DB) as conn:
        row = conn.execute("SELECT count(*) FROM requests").fetchone()
    return int(row[0]) if row else 0


def _unambiguous_names() -> list[str]:
    """Names of Iraq's and Syria's towns that the gazetteer resolves to one place each."""
    gazetteer = load_gazetteer(["IQ", "SY"], REPO / "var" / "cache")
    return sorted({p.name for p in gazetteer.places if len(gazetteer.lookup(p.name)) == 1})


def _phase(
    env: BenchEnv, stack: Stack, result: ScenarioResult, names: list[str], server: str, phase: int
) -> tuple[float, float]:
    """One phase of reports at RATE; the CPU milliseconds per report of ingest and PostgreSQL."""
    label = f"{server}, phase {phase + 1}"
    count = int(RATE * env.seconds(15))
    meter = cpu.Meter({"ingest-api": cpu.in_session(stack.ingest.session), "postgres": cpu.postgres_for(DB)})
    meter.start()
    answered = asyncio.run(post_reports(stack.ingest.address, count, RATE, reports_claiming(names, phase)))
    usage = meter.stop()
    record_cpu(result, label, usage)
    result.checks.append(
        Check(
            f"{label}: every report recorded",
            len(answered) == count,
            f"{len(answered)} of {count} answered 201",
        )
    )
    per_report = usage.seconds * 1000 / count
    return usage.groups["ingest-api"] * per_report, usage.groups["postgres"] * per_report


def _figures(result: ScenarioResult, server: str, costs: list[tuple[int, float, float]]) -> None:
    _, first_ingest, first_pg = costs[0]
    note = "limit: the first phase, on an empty database"
    for n, (before, ingest, pg) in enumerate(costs, start=1):
        result.figures += [
            Figure(f"{server}: ingest CPU per report, phase {n} ({before:,} before)", ingest, "ms",
                   limit=first_ingest if n > 1 else None, note=note),
            Figure(f"{server}: PostgreSQL CPU per report, phase {n} ({before:,} before)", pg, "ms",
                   limit=first_pg if n > 1 else None, note=note),
        ]  # fmt: skip
