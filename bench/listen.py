"""Hearing PostgreSQL notifications in a process of their own, and what freshness is made of.

Freshness is the time from a write's answer to the moment a reader could see it. The listener runs
in its own process (not a thread of the harness, whose event loop and GIL would delay it) and
stamps every notification with CLOCK_MONOTONIC, which every process on the machine shares, so its
times compare with the harness's own.

The floor's "folder" also lives here: a raw psycopg loop that does the least a projector can do
(hear of a write, commit a checkpoint with a NOTIFY), for the floor of `bench.measure`.
"""

from __future__ import annotations

import bisect
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.common import percentile, percentiles

Heard = tuple[float, str, str]  # (clock, channel, payload)


def clock() -> float:
    """Seconds on the machine-wide monotonic clock (comparable across processes)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _listen(url: str, channels: list[str], ready: Any, stop: Any, out: Any) -> None:
    heard: list[Heard] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for channel in channels:
            conn.execute(f"LISTEN {channel}")
        ready.set()
        while not stop.is_set():
            for note in conn.notifies(timeout=0.2):
                heard.append((clock(), note.channel, note.payload))
    out.put(heard)


def _fold(url: str, ready: Any, stop: Any, _out: Any) -> None:
    """Hear `bench_written`, then commit the newest id heard as a checkpoint and NOTIFY
    `bench_folded`: one transaction for all the notifications waiting, as a projector batches."""
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url) as writer:
        conn.execute("LISTEN bench_written")
        ready.set()
        while not stop.is_set():
            newest = max((int(n.payload) for n in conn.notifies(timeout=0.2, stop_after=1)), default=0)
            # Whatever else arrived meanwhile goes into the same commit.
            newest = max([newest, *(int(n.payload) for n in conn.notifies(timeout=0))])
            if newest:
                writer.execute("UPDATE floor_checkpoint SET position = %s", (newest,))
                writer.execute("SELECT pg_notify('bench_folded', %s)", (str(newest),))
                writer.commit()


class _Child:
    """`target(*args, ready, stop, out)` in a spawned child process, from `start()` (once it is
    ready) until `stop()`, which returns what it put in `out` when asked to `collect` it."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._stop, self._out = ctx.Event(), ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=target, args=(*args, self._ready, self._stop, self._out), daemon=True)

    def start(self) -> _Child:
        self._proc.start()
        if not self._ready.wait(30):
            self._proc.kill()
            raise RuntimeError(f"{self._proc.name} did not start")
        return self

    def stop(self, *, collect: bool) -> Any:
        self._stop.set()
        out = self._out.get(timeout=30) if collect else None  # before join: the child flushes it
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
        return out


@contextmanager
def listening(url: str, channels: list[str]) -> Iterator[list[Heard]]:
    """What a listener process heard on `channels` during the block (filled when it ends)."""
    child = _Child(_listen, url, channels).start()
    heard: list[Heard] = []
    try:
        yield heard
    finally:
        heard += child.stop(collect=True)


@contextmanager
def folding(url: str) -> Iterator[None]:
    """The floor's projector (`_fold`) in a child process during the block."""
    child = _Child(_fold, url).start()
    try:
        yield
    finally:
        child.stop(collect=False)


def positions_heard(heard: Iterable[Heard], channel: str) -> tuple[list[float], list[int]]:
    """(times, positions) of the notifications on `channel`, a payload ending in ":<position>"
    or being one, each position the highest heard so far (a checkpoint never goes back)."""
    times: list[float] = []
    positions: list[int] = []
    for at, name, payload in sorted(heard):
        if name != channel:
            continue
        position = int(payload.rsplit(":", 1)[-1])
        if not positions or position > positions[-1]:
            times.append(at)
            positions.append(position)
    return times, positions


@dataclass
class Freshness:
    latencies_ms: list[float]  # per write: answer to visible, 0 when visible before the answer
    before_answer: int  # writes already visible when their answer came
    unseen: int  # writes whose position no notification ever reached

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        return {
            "writes": len(self.latencies_ms) + self.unseen,
            **percentiles(self.latencies_ms, 50, 90, 99),
            "max_ms": max(self.latencies_ms, default=math.nan),
            "visible_before_answer": self.before_answer,
            "unseen": self.unseen,
        }


def freshness(writes: Sequence[tuple[float, int]], times: list[float], positions: list[int]) -> Freshness:
    """For each write (answered at, position): how long until a checkpoint at or past it was heard."""
    latencies, early, unseen = [], 0, 0
    for answered, position in writes:
        i = bisect.bisect_left(positions, position)
        if i == len(positions):
            unseen += 1
            continue
        delay = times[i] - answered
        early += delay <= 0
        latencies.append(max(0.0, delay) * 1000)
    return Freshness(latencies, early, unseen)
