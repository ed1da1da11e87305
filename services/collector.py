"""How often Python's cyclic garbage collector runs: the one home of its settings.

Two settings, by the kind of process:
- a served process (`frontline serve`, `frontline read-api`) collects young objects every 10,000
  net allocations instead of 700 (`collect_rarely`);
- a process that only folds (an RQ worker's job, `frontline replay`) holds the collector off while
  it folds (`paused`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Net allocations between young collections in a served process (Python's default is 700).
SERVED_YOUNG_THRESHOLD = 10_000


def collect_rarely() -> None:
    """Young collections every SERVED_YOUNG_THRESHOLD net allocations, for the whole process.

    A read API holding a thousand push-stream subscribers keeps ~450,000 live objects (~290 each:
    their tasks and coroutines); each change then allocates a burst of short-lived ones per
    subscriber, which the default threshold collects mid-burst, promoting live ones until a full
    collection is due: one every ~10 s, each stopping the process for 300-400 ms, so every
    subscriber got those changes late. Measured with 1,000 subscribers and 15 reports/s: 148 young
    collections, one full, in 10 s; with 10,000, two young ones (under 20 ms) and none older. The
    embedded projector of `frontline serve` folds batches of short-lived objects the same way.
    Set by the serving commands only: a test process building apps keeps Python's defaults, and the
    processes of `--workers N` start afresh with them.
    """
    gc.set_threshold(SERVED_YOUNG_THRESHOLD, 10, 10)


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """`collect_rarely` for the block only (the bench measures the embedded projector with it)."""
    before = gc.get_threshold()
    collect_rarely()
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while folding, in a process that does nothing else.

    A batch makes hundreds of thousands of short-lived objects and no cycles worth collecting
    mid-batch; the cyclic collector alone took a fifth of catch-up time (`make bench
    BENCH_ARGS=projector`). The switch is process-wide, so only a dedicated projector process (an
    RQ worker running a job, `frontline replay`) uses it: the embedded projector shares its process
    with the web threads, whose garbage must still be collected.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
