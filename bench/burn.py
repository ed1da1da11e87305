"""`python -m bench.burn CORES PERIOD_MS`: a plain CPU load, for bench.contention.

Two processes (one a core on this two-core machine), each taking half of CORES of every
PERIOD_MS milliseconds in one burst of CPU and asleep for the rest, until killed. Nothing else: no
I/O, no memory to speak of, no wake-ups but the period's. It is the machine's own answer to
"what do the pollers lose when something takes this many cores in bursts this long", beside which
the writes' cost is measured. Its caller starts it in a session of its own and kills that
session's process group.
"""

from __future__ import annotations

import os
import sys
import time

PROCESSES = 2


def burn(share: float, period: float) -> None:
    """`share` of every `period` seconds of CPU, forever: each burst is counted in CPU time, so a
    burst kept off the cores is longer, not lighter, as a writer's work would be."""
    busy = share * period
    start = time.monotonic()
    while True:
        spent = time.process_time()
        while time.process_time() - spent < busy:
            pass
        start += period
        time.sleep(max(0.0, start - time.monotonic()))


def main() -> None:
    cores, period_ms = float(sys.argv[1]), float(sys.argv[2])
    for _ in range(PROCESSES - 1):
        if os.fork() == 0:
            break
    burn(min(1.0, cores / PROCESSES), period_ms / 1000)


if __name__ == "__main__":
    main()
