"""Scenario `stream`: many subscribers of `GET /v1/stream` on one read-API process while reports arrive.

The production shape (ingest-api, read-api, one `frontline worker` on a Redis queue of its own). The
subscribers are raw asyncio connections (protocols) in this process, each finding `id:` lines and
noting when each position arrived. Reports come at a steady rate, each claiming a new place, so each
is exactly one change that every subscriber must get. Figures:
- delivery latency, from a POST's answer to the change reaching a subscriber (all subscribers'
  deliveries), beside the same run with one subscriber (the scenario without the load);
- the read API's resident memory per idle subscriber.
Checks: every subscriber got every change, in log order, none twice.
"""

from __future__ import annotations

import asyncio
import gc
import re
import time
import uuid
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import orjson
import uvloop

from bench.common import RESULTS, BenchEnv, Check, Figure, ScenarioResult, percentile
from bench.paced import post_reports
from bench.stack import fresh_migrated, frontline_env, production

DB = "bench_stream"
SUBSCRIBERS = 1000
RATE = 20.0  # reports a second
# An `id:` line; a literal prefix (no `^` in MULTILINE mode) lets the regex engine skip to each
# candidate at C speed. No raw line break is inside an event's JSON data, so none precedes `id: ` there.
EVENT_ID = re.compile(rb"\nid: (\d+)")


class Subscriber(asyncio.Protocol):
    """One SSE connection: the positions it got and when (time.monotonic()).

    A protocol, not a stream reader: the client shares the two cores with the server it measures,
    and a thousand connections read through asyncio streams (a future, a wakeup and a task step
    per read) cost it as much as the server's own sending. Here each read is one callback that
    notes the time and finds the `id:` lines with one C-level search. What it got is kept in
    arrays, not tuples: 600,000 small objects would make the client's own garbage collector stop
    it for a good part of a second, and those stops would count as delivery latency.
    """

    def __init__(self, request: bytes, ready: asyncio.Event) -> None:
        self.positions, self.times = array("q"), array("d")
        self.transport: asyncio.Transport | None = None
        self._request, self._ready = request, ready
        self._pending = b"\n"  # from the last line break on: a line cut by the end of a read

    def itself(self) -> Subscriber:
        """The protocol factory of its own connection."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self._ready.set()  # the response's head (no `id:` line in it) or the first events
        buffer = self._pending + data
        cut = buffer.rfind(b"\n")
        self._pending = buffer[cut:]
        found = EVENT_ID.findall(buffer, 0, cut)
        self.positions.extend(map(int, found))
        self.times.extend([now] * len(found))

    def got(self) -> Iterator[tuple[int, float]]:
        """(position, when) of every change it got, in the order they came."""
        return zip(self.positions, self.times, strict=True)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def report(n: int) -> bytes:
    place = {
        "place": f"Stream Bench {uuid.uuid4().hex[:8]}",
        "country": "SY",
        "location": {"lat": 35.0, "lon": 40.0},
    }
    claim = {**place, "actor": "SAA", "share": 100, "occurred_at": f"2017-11-{1 + n % 28:02d}"}
    return orjson.dumps({"id": uuid.uuid4().hex, "source": {"name": "bench"}, "claims": [claim]})


async def measure(
    read: tuple[str, int], ingest: tuple[str, int], pid: int, subscribers: int, seconds: float
) -> tuple[list[Subscriber], dict[int, float], float]:
    loop = asyncio.get_running_loop()
    request = f"GET /v1/stream HTTP/1.1\r\nHost: {read[0]}:{read[1]}\r\n\r\n".encode()
    readies = [asyncio.Event() for _ in range(subscribers)]
    subs = [Subscriber(request, ready) for ready in readies]
    before = rss_kib(pid)
    for sub in subs:
        await loop.create_connection(sub.itself, *read)
    await asyncio.gather(*(r.wait() for r in readies))
    await asyncio.sleep(2)
    idle_kib = (rss_kib(pid) - before) / subscribers
    gc.freeze()  # what exists now is never garbage: the client's collections skip it while it measures
    try:
        answered = await post_reports(ingest, int(seconds * RATE), RATE, report)
        await asyncio.sleep(3)  # the last deliveries
    finally:
        gc.unfreeze()
    for s in subs:
        s.close()
    return subs, answered, idle_kib


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("stream")
    fresh_migrated(env.pg, DB)
    seconds = env.seconds(30)
    subscribers = 100 if env.quick else SUBSCRIBERS
    logs = RESULTS / f"stream-{env.run_id}"
    with production(frontline_env(env.pg.url(DB)), logs, f"bench-{env.run_id}-stream") as stack:
        read, ingest, pid = stack.read.address, stack.ingest.address, stack.read.session
        # The client's loop is uvloop's, as the server's is: the client shares the machine with what
        # it measures, and a thousand sockets read by the default loop cost it more than the server.
        alone, alone_answered, _ = uvloop.run(measure(read, ingest, pid, 1, seconds))
        subs, answered, idle_kib = uvloop.run(measure(read, ingest, pid, subscribers, seconds))
    baseline, latencies = _latencies(alone, alone_answered), _latencies(subs, answered)
    label = f"{subscribers} subscribers, {RATE:g} reports/s"
    alone_note = "limit: the same with one subscriber"
    result.figures += [
        Figure(f"delivery p50, {label}", percentile(latencies, 50), "ms",
               limit=percentile(baseline, 50), note=alone_note),
        Figure(f"delivery p99, {label}", percentile(latencies, 99), "ms",
               limit=percentile(baseline, 99), target=250, ceiling=True, note=alone_note),
        Figure("read-API memory per idle subscriber", idle_kib, "KiB"),
    ]  # fmt: skip
    result.checks.append(_everyone_got_everything(subs, answered))
    result.details = {
        "subscribers": subscribers,
        "reports": len(answered),
        "seconds": seconds,
        "slowest_changes_ms": _slowest_changes(subs, answered),
    }
    return result


def _latencies(subs: list[Subscriber], answered: dict[int, float]) -> list[float]:
    return [(at - answered[pos]) * 1000 for s in subs for pos, at in s.got() if pos in answered]


def _slowest_changes(subs: list[Subscriber], answered: dict[int, float]) -> list[dict[str, float]]:
    """The five changes delivered latest, each with its first, median and last delivery: a tail
    made of a few changes late for everyone is a stall of the whole process (or machine), one
    spread over many changes is the time a fan-out takes."""
    by_change: dict[int, list[float]] = {}
    for s in subs:
        for pos, at in s.got():
            if pos in answered:
                by_change.setdefault(pos, []).append((at - answered[pos]) * 1000)
    spreads = [
        {"position": pos, "first": min(ms), "p50": percentile(ms, 50), "last": max(ms)}
        for pos, ms in by_change.items()
    ]
    return sorted(spreads, key=lambda c: c["p50"], reverse=True)[:5]


def _everyone_got_everything(subs: list[Subscriber], answered: dict[int, float]) -> Check:
    expected = sorted(answered)
    wrong = sum(1 for s in subs if list(s.positions) != expected)
    detail = (
        f"{len(subs) - wrong} of {len(subs)} subscribers got all {len(expected)} changes in order, none twice"
    )
    return Check("every subscriber gets every change", wrong == 0 and bool(expected), detail)
