"""How closely reports follow each other: how long the report writer waits for the next one.

A batch costs the writer and PostgreSQL about as much as a single report: one transaction, its
round trips, one commit, one ring of the doorbell. At 200 reports a second from a few feeds, each
report came 5 ms after the last and found the writer idle, so each was a batch of its own (the
ingest API took 0.32-0.33 of a core, its PostgreSQL backend 0.13-0.14; docs/performance-notes.md,
tenth stop). When reports come closer together than half of `REPORT_LINGER`, the writer waits for
the next one before it writes, and a batch holds a few; no report waits more than `REPORT_LINGER`
from its arrival. When they come further apart (20 a second, say), it writes at once. When reports
come in bursts (clients that each send again as soon as they are answered), the gaps are short and
so is each wait: a batch gathers the burst, which saturating ingest answers faster on the whole
(1,082 -> 1,193-1,220 reports a second here) but its slowest report later (p99 28 -> 49-61 ms).
"""

from __future__ import annotations

WEIGHT = 0.25  # of the newest gap in the mean: a change of pace is followed within a few reports


class Arrivals:
    """The mean gap between reports, exponentially weighted: noted as each is queued, read by the
    writer's thread (one float: reading it needs no lock)."""

    def __init__(self) -> None:
        self._last: float | None = None
        self.gap: float | None = None  # seconds; None until two reports came

    def note(self, now: float) -> None:
        if self._last is not None:
            gap = max(0.0, now - self._last)
            self.gap = gap if self.gap is None else self.gap + WEIGHT * (gap - self.gap)
        self._last = now

    def wait_for_next(self, linger: float) -> float:
        """Seconds worth waiting for the next report: twice the mean gap, when that is within
        `linger`; else none."""
        gap = self.gap
        if gap is None or 2 * gap > linger:
            return 0.0
        return 2 * gap
