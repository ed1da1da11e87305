"""Scenario `ingest`: POST /v1/reports beside what the machine can do for the same rows.

In one run, close together in time because the machine is shared and noisy:

1. limit A, before: raw psycopg, one connection, one row per commit (bench.raw);
2. Frontline, single-claim reports: `frontline ingest-api --workers 2` under wrk -t4 -c16 for 15 s
   (after a 5 s warm-up), then a check that every report answered 201 is in the log;
3. limit A again, after (the better of the two is the limit: the stricter comparison);
4. in turns, 1 warm-up round then 5: limit B (raw psycopg `executemany` of 1000 rows in one
   transaction), the same rows into `events` itself through its triggers (to explain a gap),
   Frontline taking one report of 1000 claims, and refusing one of 1000 unknown places (its CPU
   beside the accepted one's: made-up names must not cost more than good ones);
5. the peer, `eventsourcing` (bench.peer), once the server has stopped.
"""

from __future__ import annotations

import statistics
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench import cpu, payloads, peer, raw, wrk_runner
from bench.common import (
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
from bench.stack import (
    HEADERS,
    KEY,
    Running,
    fresh_database,
    fresh_migrated,
    frontline,
    frontline_env,
    server,
)

DB = "bench_ingest"
PEER_DB = "bench_eventsourcing"
THREADS, CONNECTIONS = 4, 16
BIG = 1000  # claims in a large report, rows in limit B's transaction
PEER_THREADS = 16
step = stepper("ingest")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("ingest")
    step("fresh database %s, migrated, with the plain table %s", DB, raw.TABLE)
    fresh_migrated(env.pg, DB)
    raw.create_table(env.pg, DB)
    rows = raw.Rows()
    limit_a = [_limit_a(env, rows, "before", result)]
    log = RESULTS / f"ingest-{env.run_id}-server.log"
    with _frontline(env.pg, log) as api:
        single = _single_claim_reports(env, api, result)
        limit_a.append(_limit_a(env, rows, "after", result))
        large = _large_reports(env, api, rows, result)
    peer_run = _peer(env, result)
    _figures(result, limit_a, single, large, peer_run)
    result.details["server_log"] = str(log)
    return result


def _frontline(pg: Postgres, log: Path) -> AbstractContextManager[Running]:
    args = frontline("ingest-api", "--workers", "2")
    step("starting %s (log: %s)", " ".join(args[1:]), log)
    return server(args, frontline_env(pg.url(DB)), log)


def _meter(api: Running | None = None) -> cpu.Meter:
    groups = {"harness": cpu.this_process(), "postgres": cpu.postgres_for(DB)}
    if api:
        groups["server"] = cpu.in_session(api.session)
    return cpu.Meter(groups)


# Limit A and single-claim reports


def _limit_a(env: BenchEnv, rows: raw.Rows, when: str, result: ScenarioResult) -> float:
    seconds = env.seconds(10)
    step("limit A (%s): raw serial commits for %.0f s", when, seconds)
    # Rows for 2,000 commits/s built ahead: about twice what this machine's disk has done.
    pending = rows.single_claim_reports(f"raw-a-{when}", int(seconds * 2_000))
    with env.pg.connect(DB) as conn:
        meter = _meter()  # started once the connection's backend exists, so that it is measured
        meter.start()
        rate = raw.serial_commits(conn, pending, seconds)
        record_cpu(result, f"limit A ({when})", meter.stop())
    step("limit A (%s): %.0f rows/s", when, rate)
    return rate


def _single_claim_reports(env: BenchEnv, api: Running, result: ScenarioResult) -> wrk_runner.WrkRun:
    warm = _wrk(env, api.base_url, f"warm-{env.run_id}", env.seconds(5), "warm-up")
    _check_answers(result, "warm-up", warm)
    prefix = f"main-{env.run_id}"
    meter = _meter(api)
    meter.start()
    measured = _wrk(env, api.base_url, prefix, env.seconds(15), "measured")
    record_cpu(result, "measured wrk run", meter.stop(children_as="wrk"))
    _check_answers(result, "measured run", measured)
    _check_durable(env.pg, result, measured, prefix)
    _group_commits(env.pg, result, prefix)
    result.details["wrk_warmup"] = warm.as_dict()
    result.details["wrk"] = measured.as_dict()
    return measured


def _wrk(env: BenchEnv, base: str, prefix: str, seconds: float, label: str) -> wrk_runner.WrkRun:
    step("wrk -t%d -c%d -d%.0fs (%s), single-claim reports", THREADS, CONNECTIONS, seconds, label)
    run = wrk_runner.run(
        base,
        "post_report.lua",
        [prefix],
        {"BENCH_KEY": KEY},
        seconds=seconds,
        threads=THREADS,
        connections=CONNECTIONS,
    )
    step("%s: %d answers in %.1f s, %d answered 201", label, run.requests, run.seconds, run.created)
    return run


def _check_answers(result: ScenarioResult, label: str, run: wrk_runner.WrkRun) -> None:
    others = {code: n for code, n in run.statuses.items() if code != 201}
    result.checks.append(
        Check(
            f"{label}: every answer 201",
            run.non_2xx == 0 and not others,
            f"wrk counted {run.non_2xx} non-2xx answers; statuses {run.statuses}",
        )
    )
    errors = sum(run.socket_errors.values())
    detail = f"wrk: {run.socket_errors or 'none'}"
    result.checks.append(Check(f"{label}: no socket errors", errors == 0, detail))


def _check_durable(pg: Postgres, result: ScenarioResult, run: wrk_runner.WrkRun, prefix: str) -> None:
    """Every report answered 201 is in the log, and the log holds no more than wrk left in flight."""
    with pg.connect(DB) as conn:
        recorded = _settled_count(conn, prefix)
        missing = conn.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS a(id)"
            " WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.request_id = a.id)",
            (run.created_ids,),
        ).fetchone()[0]  # type: ignore[index]
    answered = run.requests - run.non_2xx
    result.details["durability"] = {"events": recorded, "answered_2xx": answered, "missing": missing}
    result.checks.append(
        Check(
            "every report answered 201 is in the log",
            missing == 0 and run.created == answered,
            f"{run.created} ids answered 201 (wrk: {answered} 2xx), {missing} of them missing from the log",
        )
    )
    surplus = recorded - answered
    # wrk stops at its deadline without reading the answers still on the way; those reports are
    # recorded all the same, so the log may hold up to one per connection more than wrk counted.
    result.checks.append(
        Check(
            "events in the log = 201 answers",
            0 <= surplus <= CONNECTIONS,
            f"{recorded} events, {answered} answers"
            + (f": {surplus} reports in flight when wrk stopped (recorded, never read)" if surplus else ""),
        )
    )


def _group_commits(pg: Postgres, result: ScenarioResult, prefix: str) -> None:
    """How many transactions the measured reports took: the writer's group commit at work."""
    # Rows are never updated, so a row's xmin is the transaction that appended it.
    query = (
        "SELECT count(*), avg(n), max(n) FROM"
        " (SELECT count(*) AS n FROM events WHERE left(request_id, %s) = %s GROUP BY xmin::text) AS t"
    )
    with pg.connect(DB) as conn:
        commits, mean, largest = conn.execute(query, (len(prefix) + 1, prefix + "-")).fetchone()  # type: ignore[misc]
    result.details["group_commit"] = {"commits": commits, "mean_reports": float(mean), "max_reports": largest}
    result.notes.append(
        f"the measured 1-claim reports took {commits} transactions: {mean:.1f} reports per commit on"
        f" average, {largest} at most"
    )


def _settled_count(conn: psycopg.Connection[Any], prefix: str, timeout: float = 10) -> int:
    """The events of this run's reports, once the writers have finished what was in flight."""
    query = "SELECT count(*) FROM events WHERE left(request_id, %s) = %s"
    last, deadline = -1, time.monotonic() + timeout
    while True:
        count = int(conn.execute(query, (len(prefix) + 1, prefix + "-")).fetchone()[0])  # type: ignore[index]
        conn.commit()  # ends the transaction: the next look sees what committed since
        if count == last or time.monotonic() > deadline:
            return count
        last = count
        time.sleep(0.5)


# Limit B and large reports


def _large_reports(
    env: BenchEnv, api: Running, rows: raw.Rows, result: ScenarioResult
) -> dict[str, list[float]]:
    """Rows/s of limit B, of its diagnostic, and events/s of Frontline's large reports, in turns.

    Each round runs the three back to back, so that the machine's swings (here a 1000-row commit
    can take 5 times longer from one minute to the next) fall on all three alike. The first round
    warms up and is not counted.
    """
    repeats = env.repeats(5)
    step(
        "in turns, %d rounds after 1 warm-up: %d rows into %s, into events, in one POST",
        repeats,
        BIG,
        raw.TABLE,
    )
    rates: dict[str, list[float]] = {raw.TABLE: [], "events": [], "frontline": []}
    usages = []
    server_cpu: dict[str, list[float]] = {"accepted": [], "refused": []}  # seconds per POST
    meter = _meter(api)
    with (
        env.pg.connect(DB) as conn,
        httpx.Client(base_url=api.base_url, headers=HEADERS, timeout=120) as client,
    ):
        for attempt in range(repeats + 1):
            seconds = {
                table: raw.batch_commit(conn, rows.big_report(f"raw-b-{table}-{attempt}", BIG), table)
                for table in (raw.TABLE, "events")
            }
            body = orjson.dumps(payloads.big_report(f"big-{env.run_id}-{attempt}", BIG))
            meter.start()
            seconds["frontline"] = _post_big(client, body)
            usages.append(meter.stop())
            refused = _refused_cpu(client, meter, f"unknown-{env.run_id}-{attempt}")
            if attempt:  # the first round warms up
                for kind, taken in seconds.items():
                    rates[kind].append(BIG / taken)
                server_cpu["accepted"].append(usages[-1].groups["server"] * usages[-1].seconds)
                server_cpu["refused"].append(refused)
    record_cpu(result, f"{BIG}-claim POSTs", cpu.combined(usages[1:]))
    _check_large_reports(env, result, repeats + 1)
    _refused_figure(result, server_cpu)
    return rates


def _refused_cpu(client: httpx.Client, meter: cpu.Meter, report_id: str) -> float:
    """The server's CPU seconds to refuse a report of BIG unknown places."""
    body = orjson.dumps(payloads.unknown_places_report(report_id, BIG))
    meter.start()
    response = client.post("/v1/reports", content=body)
    usage = meter.stop()
    if response.status_code != 422 or len(response.json()["errors"]) != BIG:
        answered = f"{response.status_code}: {response.text[:500]}"
        raise BenchError(f"a report of {BIG} unknown places was answered {answered}")
    return usage.groups["server"] * usage.seconds


def _refused_figure(result: ScenarioResult, server_cpu: dict[str, list[float]]) -> None:
    result.details["server_cpu_per_post"] = server_cpu
    result.figures.append(
        Figure(f"(hostile input) refusing a report of {BIG} unknown places: the server's CPU",
               statistics.median(server_cpu["refused"]) * 1e3, "ms",
               limit=statistics.median(server_cpu["accepted"]) * 1e3,
               note=f"limit: accepting a good {BIG}-claim report; below 1, made-up names cost less")
    )  # fmt: skip


def _post_big(client: httpx.Client, body: bytes) -> float:
    """POST a large report; the seconds until its answer."""
    start = time.perf_counter()
    response = client.post("/v1/reports", content=body)
    elapsed = time.perf_counter() - start
    if response.status_code != 201 or len(response.json()["events"]) != BIG:
        raise BenchError(f"a {BIG}-claim report was answered {response.status_code}: {response.text[:2000]}")
    return elapsed


def _check_large_reports(env: BenchEnv, result: ScenarioResult, reports: int) -> None:
    with env.pg.connect(DB) as conn:
        recorded = _settled_count(conn, f"big-{env.run_id}")
    expected = reports * BIG
    result.checks.append(
        Check("large reports: every claim in the log", recorded == expected, f"{recorded} of {expected}")
    )


# The peer


def _peer(env: BenchEnv, result: ScenarioResult) -> peer.PeerRun:
    seconds = env.seconds(15)
    step("peer: eventsourcing, %d threads in-process for %.0f s", PEER_THREADS, seconds)
    fresh_database(env.pg, PEER_DB)
    run = peer.run(env.pg, PEER_DB, PEER_THREADS, seconds)
    step("peer: %d events in %.1f s", run.saved, run.seconds)
    result.checks.append(Check("peer: no errors", not run.errors, "; ".join(run.errors) or "none"))
    result.checks.append(
        Check("peer: events in its table = saves", run.stored == run.saved, f"{run.stored} of {run.saved}")
    )
    result.details["peer"] = {"threads": run.threads, "saved": run.saved, "seconds": run.seconds}
    return run


def _figures(
    result: ScenarioResult,
    limit_a: list[float],
    single: wrk_runner.WrkRun,
    large: dict[str, list[float]],
    peer_run: peer.PeerRun,
) -> None:
    single_rate = single.created / single.seconds
    limit_b = statistics.median(large[raw.TABLE])
    result.details.update(limit_a=limit_a, large=large)
    result.figures += [
        Figure("limit A, before: raw psycopg, 1 row per commit", limit_a[0], "rows/s"),
        Figure("limit A, after: raw psycopg, 1 row per commit", limit_a[1], "rows/s"),
        Figure(f"Frontline: 1-claim reports, wrk -t{THREADS} -c{CONNECTIONS}", single_rate, "events/s",
               limit=max(limit_a), target=0.8, note="limit: the better of limit A before and after"),
        Figure("Frontline: 1-claim reports, p50 latency", single.p50_ms, "ms"),
        Figure("Frontline: 1-claim reports, p99 latency", single.p99_ms, "ms"),
        Figure(f"limit B: raw psycopg executemany, {BIG} rows per commit", limit_b, "rows/s"),
        Figure("(diagnostic) the same rows into `events`, through its triggers",
               statistics.median(large["events"]), "rows/s", limit=limit_b),
        Figure(f"Frontline: one {BIG}-claim report per POST", statistics.median(large["frontline"]),
               "events/s", limit=limit_b, target=0.5),
        Figure(f"peer: eventsourcing, {PEER_THREADS} threads in-process", peer_run.rate, "events/s"),
        Figure("Frontline 1-claim reports vs the peer", single_rate, "events/s", limit=peer_run.rate,
               target=1, strict=True, note="the limit column holds the peer's rate"),
    ]  # fmt: skip
    _notes(result, large)


def _notes(result: ScenarioResult, large: dict[str, list[float]]) -> None:
    ratios = [f / b for f, b in zip(large["frontline"], large[raw.TABLE], strict=True)]
    result.details["large_round_ratios"] = ratios
    result.notes += [
        "limit B, its diagnostic and the large reports: medians of rounds run in turns, after 1"
        " warm-up round; Frontline / limit B per round: " + ", ".join(f"{r:.2f}" for r in ratios),
        "the peer runs in-process, without HTTP, request parsing or validation; Frontline is measured"
        " through HTTP, with wrk on the same machine",
        "limit rows use a plain copy of `events` (same columns, keys and indexes, no triggers)",
    ]
