"""A correction's effect: from POST /v1/corrections's answer until the corrected state is readable.

Part 2 of the `replay` scenario. Two logs at once, a long one and a short one with the same history
per place, each served by the production shape: `frontline ingest-api`, `frontline read-api` and
`frontline worker` (RQ; its own queue), one process each. Corrections of random earlier claims (a
share or a date; never of the one place with a thousand claims, which would weigh on the short
log alone) go to the two logs in turn on a fixed schedule; for each, the client GETs the claim's
place with `min_position=<the answer's position>` as soon as the POST is answered (the read API
holds such a GET up to 5 s until its read models reach the position) and notes when it answers
200. A listener process hears the projection's NOTIFYs too: when the checkpoint passed the
position, before the read API's own work.

The floor beside it, in the same run (bench.measure's): raw commits with a NOTIFY on the same
schedule, a raw folder that hears them and commits a checkpoint with its own NOTIFY, a listener.
"""

from __future__ import annotations

import asyncio
import bisect
import random
from collections import Counter
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from bench import corpus, cpu
from bench.common import (
    RESULTS,
    BenchEnv,
    Check,
    Figure,
    Postgres,
    ScenarioResult,
    percentile,
    percentiles,
    stepper,
)
from bench.listen import Heard, clock, freshness, listening, positions_heard
from bench.measure import floor
from bench.paced import Pool, get_request, post_request
from bench.stack import HEADERS, Stack, frontline_env, production
from services.projector import rebuild
from services.store import checkpoints
from services.store.database import Database
from services.store.read_models import PROJECTION

CHANNEL = "frontline_projection"
INTERVAL = 0.05  # seconds between two POSTs, the logs taking turns
MEASURED, WARM = 200, 10  # corrections per log
READABLE_WITHIN = 30.0  # seconds; a correction not readable by then fails the run's check
TARGET_MS = 100
POOL = 4  # keep-alive connections to each server (about one request is in flight at a time)
step = stepper("corrections")


# What to correct


@dataclass(frozen=True)
class Target:
    """A claim to correct, the change, and the column of `rm_claims` that must show it."""

    event_id: str
    place_id: str
    changes: dict[str, Any]
    column: str
    expected: Any


def targets(pg: Postgres, dbname: str, count: int, seed: int) -> list[Target]:
    """`count` claims drawn at random from the whole log, none retracted, none twice."""
    rng = random.Random(seed)
    with pg.connect(dbname) as conn:
        rows = conn.execute(
            "SELECT event_id, place_id, share, occurred_start FROM rm_claims"
            " WHERE NOT retracted AND place_id <> %s ORDER BY event_id",
            (corpus.HOT_PLACE,),
        ).fetchall()
    return [_target(rng, n, *row) for n, row in enumerate(rng.sample(rows, count))]


def _target(rng: random.Random, n: int, event_id: str, place_id: str, share: int, start: Any) -> Target:
    """Every other one a new share, the others a date moved by up to a month (the claim then
    moves in its place's order, and the place is re-folded from the earlier of the two dates)."""
    if n % 2 == 0:
        new = rng.choice([s for s in sorted(set(corpus.SHARES)) if s * 100 != share])
        return Target(event_id, place_id, {"share": new}, "share", new * 100)
    day = (start.date() + timedelta(days=rng.choice((-1, 1)) * rng.randint(1, 30))).isoformat()
    return Target(event_id, place_id, {"occurred_at": day}, "occurred_at", day)


# The client


@dataclass
class Amend:
    """One correction: when it was due, POSTed, answered, and readable (clock())."""

    dbname: str
    target: Target
    due: float
    request_id: str
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    position: int = 0
    readable: float = 0.0  # when GET ...?min_position answered 200; 0: never
    gets: int = 0  # GETs it took (a 503 after the server's 5 s wait asks again)
    error: str = ""

    @property
    def readable_ms(self) -> float:
        return (self.readable - self.answered) * 1000

    @property
    def post_ms(self) -> float:
        return (self.answered - self.sent) * 1000


class _Servers:
    """One log's servers, and a pool of keep-alive connections to each (made in the event loop)."""

    def __init__(self, dbname: str, stack: Stack) -> None:
        self.dbname = dbname
        self.ingest = Pool(stack.ingest.address, POOL)
        self.read = Pool(stack.read.address, POOL)

    def post(self, amend: Amend) -> bytes:
        body = {
            "id": amend.request_id,
            "event_id": amend.target.event_id,
            "changes": amend.target.changes,
            "reason": "bench: corrected",
        }
        return post_request(*self.ingest.address, "/v1/corrections", HEADERS, orjson.dumps(body))

    def close(self) -> None:
        self.ingest.close()
        self.read.close()


async def _amend(amend: Amend, post: bytes, servers: _Servers) -> None:
    try:
        amend.sent = clock()
        amend.status, body = await servers.ingest.exchange(post)
        amend.answered = clock()
        if amend.status != 201:
            amend.error = f"POST answered {amend.status}: {body[:300]!r}"
            return
        amend.position = int(orjson.loads(body)["position"])
        await _read_back(amend, servers)
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        amend.error = repr(exc)


async def _read_back(amend: Amend, servers: _Servers) -> None:
    """GET the claim's place, waiting for the correction's position, until it answers 200."""
    path = f"/v1/places/{amend.target.place_id}?min_position={amend.position}"
    raw = get_request(*servers.read.address, path)
    while clock() - amend.answered < READABLE_WITHIN:
        amend.gets += 1
        status, body = await servers.read.exchange(raw)
        if status == 200:
            amend.readable = clock()
            return
        if status != 503:  # 503: the position was not reached within the server's wait
            amend.error = f"GET answered {status}: {body[:300]!r}"
            return
    amend.error = f"not readable within {READABLE_WITHIN:.0f} s"


def send(stacks: dict[str, Stack], plan: dict[str, list[Target]], prefix: str) -> list[Amend]:
    """The corrections of `plan` (per database), the logs taking turns, one every INTERVAL."""
    return asyncio.run(_send(stacks, plan, prefix))


async def _send(stacks: dict[str, Stack], plan: dict[str, list[Target]], prefix: str) -> list[Amend]:
    servers = [_Servers(dbname, stack) for dbname, stack in stacks.items()]
    turns = zip(*(plan[s.dbname] for s in servers), strict=True)
    start = clock() + 0.1
    amends = [
        (Amend(s.dbname, target, start + INTERVAL * (2 * n + k), f"{prefix}-{s.dbname}-{n}"), s)
        for n, round_ in enumerate(turns)
        for k, (s, target) in enumerate(zip(servers, round_, strict=True))
    ]
    requests = [s.post(amend) for amend, s in amends]  # built before the schedule starts
    tasks = []
    for (amend, s), post in zip(amends, requests, strict=True):
        if (delay := amend.due - clock()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_amend(amend, post, s)))
    await asyncio.gather(*tasks)
    for s in servers:
        s.close()
    return [amend for amend, _ in amends]


# The run


def measure(env: BenchEnv, result: ScenarioResult, large: corpus.Log, small: corpus.Log) -> None:
    logs = [large, small]
    count, warm = (40, 4) if env.quick else (MEASURED, WARM)
    picked = {log.dbname: targets(env.pg, log.dbname, count + warm, seed=11) for log in logs}
    floors = [_floor(env, large, count, "before")]
    with ExitStack() as stack:
        stacks = {log.dbname: stack.enter_context(_production(env, log)) for log in logs}
        step("warm-up: %d corrections per log", warm)
        warmed = send(stacks, {db: t[:warm] for db, t in picked.items()}, f"warm-{env.run_id}")
        step("%d corrections per log, one POST every %.0f ms", count, INTERVAL * 1000)
        amends, heard, usage = _measured(env, stacks, {db: t[warm:] for db, t in picked.items()})
    floors.append(_floor(env, large, count, "after"))
    # The lower floor is the stricter comparison.
    lower = min(floors, key=lambda f: f["p99_ms"])
    step("CPU during the corrections: %s", usage.describe())
    result.notes.append(f"CPU during the corrections: {usage.describe()}")
    summaries = {log.dbname: _summary(log, amends, heard[log.dbname]) for log in logs}
    result.details["corrections"] = {
        "floors": floors,
        "cpu": usage.as_dict(),
        "logs": summaries,
        "latencies_ms": {db: [round(a.readable_ms, 2) for a in amends if a.dbname == db] for db in picked},
    }
    for log in logs:
        _check(env.pg, result, log, [a for a in warmed + amends if a.dbname == log.dbname], summaries)
    _verify(env.pg, result, small)
    _figures(result, logs, summaries, lower)


def _production(env: BenchEnv, log: corpus.Log) -> AbstractContextManager[Stack]:
    step("%s: ingest-api, read-api and a worker on a queue of their own", log.label)
    logs = RESULTS / f"replay-{env.run_id}-{log.dbname}"
    process_env = frontline_env(env.pg.url(log.dbname))
    return production(process_env, logs, f"bench-{env.run_id}-{log.dbname}")


def _measured(
    env: BenchEnv, stacks: dict[str, Stack], plan: dict[str, list[Target]]
) -> tuple[list[Amend], dict[str, list[Heard]], cpu.Usage]:
    sessions = {
        "ingest-api": {s.ingest.session for s in stacks.values()},
        "read-api": {s.read.session for s in stacks.values()},
        "worker": {w for s in stacks.values() for w in s.workers},
    }
    groups: dict[str, cpu.Member] = {"harness": cpu.this_process()}
    groups |= {name: cpu.in_sessions(ids) for name, ids in sessions.items()}
    databases = [cpu.postgres_for(dbname) for dbname in stacks]
    groups["postgres"] = lambda pid, session, cmdline: any(m(pid, session, cmdline) for m in databases)
    with ExitStack() as listeners:
        heard = {db: listeners.enter_context(listening(env.pg.url(db), [CHANNEL])) for db in stacks}
        meter = cpu.Meter(groups)
        meter.start()
        amends = send(stacks, plan, f"fix-{env.run_id}")
        usage = meter.stop()
    return amends, heard, usage


def _summary(log: corpus.Log, amends: list[Amend], heard: list[Heard]) -> dict[str, Any]:
    mine = [a for a in amends if a.dbname == log.dbname]
    readable = [a.readable_ms for a in mine if a.readable]
    # Only the live projection's checkpoint (a replay's build checkpoint notifies too).
    live = [h for h in heard if (n := checkpoints.parse_notice(h[2])) is not None and n.name == PROJECTION]
    times, positions = positions_heard(live, CHANNEL)
    notified = freshness([(a.answered, a.position) for a in mine if a.status == 201], times, positions)
    summary = {
        "corrections": len(mine),
        "statuses": dict(Counter(a.status for a in mine)),
        "readable": len(readable),
        **percentiles(readable, 50, 90, 99),
        "max_ms": max(readable, default=float("nan")),
        "by_change": {
            column: percentile([a.readable_ms for a in mine if a.readable and a.target.column == column], 99)
            for column in ("share", "occurred_at")
        },
        "notified": notified.summary(),
        **percentiles(_serving(mine, times, positions), 50, 99, prefix="read_api_"),
        **percentiles([a.post_ms for a in mine], 50, 99, prefix="post_"),
        "send_slip_max_ms": max((a.sent - a.due) * 1000 for a in mine),
        "gets_max": max(a.gets for a in mine),
        "errors": sorted({a.error for a in mine if a.error})[:5],
    }
    step(
        "%s: readable p50 %.1f ms, p99 %.1f ms, max %.1f ms; checkpoint NOTIFY p99 %.1f ms; POST p99 %.1f ms",
        *(log.label, summary["p50_ms"], summary["p99_ms"], summary["max_ms"]),
        *(notified.percentile(99), summary["post_p99_ms"]),
    )
    return summary


def _serving(mine: list[Amend], times: list[float], positions: list[int]) -> list[float]:
    """The read API's part: from the checkpoint's NOTIFY (or the POST's answer, if that came later)
    to the GET's 200 (its follower reading the checkpoint, the waiter woken, the place's answer)."""
    return [
        (a.readable - max(a.answered, heard_at)) * 1000
        for a in mine
        if a.readable and (heard_at := _heard_at(a.position, times, positions)) is not None
    ]


def _heard_at(position: int, times: list[float], positions: list[int]) -> float | None:
    """When a checkpoint at or past `position` was first heard (positions rise with times)."""
    i = bisect.bisect_left(positions, position)
    return times[i] if i < len(positions) else None


def _check(
    pg: Postgres, result: ScenarioResult, log: corpus.Log, amends: list[Amend], summaries: dict[str, Any]
) -> None:
    """Every correction (warm-up included) answered 201, readable, heard folded, and in rm_claims."""
    statuses = dict(Counter(a.status for a in amends))
    unreadable = [a for a in amends if not a.readable]
    unseen = summaries[log.dbname]["notified"]["unseen"]
    wrong = _not_applied(pg, log.dbname, [a for a in amends if a.status == 201])
    result.checks += [
        Check(
            f"{log.label}: every correction answered 201",
            statuses == {201: len(amends)},
            f"statuses {statuses}; errors {sorted({a.error for a in amends if a.error})[:3]}",
        ),
        Check(
            f"{log.label}: every correction readable (GET ...?min_position answered 200)",
            not unreadable,
            f"{len(unreadable)} of {len(amends)} not readable within {READABLE_WITHIN:.0f} s",
        ),
        Check(
            f"{log.label}: every measured correction's position heard folded", unseen == 0, f"{unseen} unseen"
        ),
        Check(
            f"{log.label}: rm_claims shows every correction",
            not wrong,
            f"{len(wrong)} claims not as corrected" + (f", e.g. {wrong[:2]}" if wrong else ""),
        ),
    ]


def _not_applied(pg: Postgres, dbname: str, amends: list[Amend]) -> list[str]:
    with pg.connect(dbname) as conn:
        rows = conn.execute(
            "SELECT event_id, share, occurred_at FROM rm_claims WHERE event_id = ANY(%s)",
            ([a.target.event_id for a in amends],),
        ).fetchall()
    found = {event_id: {"share": share, "occurred_at": occurred} for event_id, share, occurred in rows}
    return [
        f"{a.target.event_id}: {a.target.column} {found.get(a.target.event_id)} != {a.target.expected}"
        for a in amends
        if found.get(a.target.event_id, {}).get(a.target.column) != a.target.expected
    ]


def _verify(pg: Postgres, result: ScenarioResult, log: corpus.Log) -> None:
    """`frontline verify` on the short log: its read models, corrected one at a time by the live
    projector, must equal a rebuild from the log (on the long log this is the replay's check)."""
    db = Database(pg.sqlalchemy_url(log.dbname), pool_size=2)
    try:
        found = rebuild.verify(db)
    finally:
        db.dispose()
    told = [f"{d.table}: {d.only_in_live} only live, {d.only_in_rebuilt} only rebuilt" for d in found]
    result.checks.append(
        Check(
            f"{log.label}: after the corrections, the read models equal a rebuild (frontline verify)",
            not found,
            "; ".join(told) or "no difference",
        )
    )


def _floor(env: BenchEnv, log: corpus.Log, count: int, when: str) -> dict[str, Any]:
    """bench.measure's floor at the corrections' pace, on the long log's database."""
    folded = floor(env.pg, log.dbname, count, INTERVAL)["folded"]
    step("floor (%s): p50 %.2f ms, p99 %.2f ms", when, folded["p50_ms"], folded["p99_ms"])
    return folded


# Figures


def _figures(
    result: ScenarioResult, logs: list[corpus.Log], summaries: dict[str, Any], lower: dict[str, Any]
) -> None:
    for log in logs:
        result.figures += _log_figures(log, summaries[log.dbname], lower)
    large, small = logs
    big, little = summaries[large.dbname], summaries[small.dbname]
    result.figures += [
        Figure(f"correction -> readable {q}: {large.label} beside the {small.label}", big[f"{q}_ms"], "ms",
               limit=little[f"{q}_ms"],
               note="limit column: the same on the short log; a ratio near 1: independent of the log's size")
        for q in ("p50", "p99")
    ]  # fmt: skip
    result.notes.append(
        "corrections: 'readable' runs from the POST's answer to GET /v1/places/{id}?min_position=<its"
        " position> answering 200 (asked at once; the server holds it until its read models reach the"
        " position); 'checkpoint NOTIFY heard' to the projection's notification of a checkpoint at or"
        " past it; the limit column holds the raw floor's same percentile (the lower of two floors)"
    )
    result.notes += [_log_note(log, summaries[log.dbname]) for log in logs]


def _log_figures(log: corpus.Log, s: dict[str, Any], lower: dict[str, Any]) -> list[Figure]:
    name = f"correction -> readable, {log.label}"
    return [
        Figure(f"{name}: p50", s["p50_ms"], "ms", limit=lower["p50_ms"]),
        Figure(f"{name}: p99", s["p99_ms"], "ms", limit=lower["p99_ms"], target=TARGET_MS, ceiling=True,
               note="limit: the raw floor (commit + NOTIFY -> folder commit + NOTIFY -> listener)"),
        Figure(f"{name}: max", s["max_ms"], "ms", limit=lower["max_ms"]),
        Figure(f"(checkpoint NOTIFY heard) {log.label}: p99", s["notified"]["p99_ms"], "ms",
               limit=lower["p99_ms"]),
    ]  # fmt: skip


def _log_note(log: corpus.Log, s: dict[str, Any]) -> str:
    return (
        f"corrections, {log.label}: {s['readable']} of {s['corrections']} readable; p99 by change:"
        f" share {s['by_change']['share']:.1f} ms, occurred_at {s['by_change']['occurred_at']:.1f} ms;"
        f" from the checkpoint's NOTIFY to the GET's 200 (the read API's part) p50/p99"
        f" {s['read_api_p50_ms']:.1f}/{s['read_api_p99_ms']:.1f} ms;"
        f" POST p50/p99 {s['post_p50_ms']:.1f}/{s['post_p99_ms']:.1f} ms; sent at worst"
        f" {s['send_slip_max_ms']:.1f} ms late; at most {s['gets_max']} GET(s) per correction"
    )
