"""How often a projector folds while reports stream in: once per `PROJECTION_LINGER` on average.

Each projection commit costs the same whatever it holds (the worker's statements, PostgreSQL's
commit, every read API reading the change feed after it), so under a stream of reports the
projector folds what arrived meanwhile together, rather than once per report. A report after a
quiet spell is folded at once. Both projectors pace their looks by this rule: the worker's catch-up
job at each ring it hears (services.projector.runner), the embedded one of `frontline serve` at each
tick a ring starts (services.projector.embedded; within a tick it folds to the log's end).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Batches a stream may have back to back before they are paced: a ring that came late (a slow
# commit, a pause of the feed) lets the next on-time ones through at once, rather than each then
# waiting as long as it was late (with a burst of one, every later report of a stream of one per
# linger waited that long: at 20 reports/s and 50 ms, a stream subscriber got a change 27 ms
# after its report's answer at the median, instead of 5).
BURST = 2


@dataclass
class Pace:
    """A projector's batches under a stream of rings: one per `linger` on average, BURST at most
    back to back (a token bucket: a batch takes a token, one comes back per `linger`)."""

    tokens: float = BURST
    at: float = float("-inf")
    clock: Callable[[], float] = time.monotonic

    def next_look(self, linger: float) -> float:
        """A ring heard now: when to look (on `clock`)."""
        now = self.clock()
        if linger <= 0:
            return now
        tokens = min(BURST, self.tokens + (now - self.at) / linger)
        wait = max(0.0, 1 - tokens) * linger
        self.tokens, self.at = tokens + wait / linger - 1, now + wait
        return now + wait
