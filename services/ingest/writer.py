"""The report writer: group commit for concurrent reports.

Every append holds the log's lock from its first insert to its commit (that is what keeps positions
commit-ordered, see migration 0001), so appends are serial and a commit's fsync is the ceiling of a
writer-per-request design. The writer takes whatever reports are waiting, records them in one
transaction (each report still all or nothing, see `record_reports`) and answers each when that
transaction has committed: durable on return, one fsync and a handful of statements per batch.

Every round trip to the database costs this thread a wake-up, measured at 1.5 to 6 ms under the
benchmark's load (two cores shared by the event loops, PostgreSQL and the client), so a batch makes
as few as it can. On PostgreSQL three: BEGIN; the reads of requests and places together; the writes
(one statement, see `event_log.claim_and_append`) with the COMMIT (`event_log.commit_with_append`).
When reports follow each other closely, the writer waits a little for the next before it writes
(at most `linger` from the arrival of a batch's first report: see services.ingest.arrivals).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from services.doorbell import Doorbell
from services.gazetteer import Gazetteer
from services.ingest.arrivals import Arrivals
from services.ingest.reports import Deferred, Outcome, Result, Submission, record_reports
from services.loops import Loop
from services.store.actors import ActorDirectory
from services.store.database import Database
from services.store.errors import StoreUnavailable
from services.store.event_log import commit_with_append

log = structlog.get_logger(__name__)


class WriterUnavailable(Exception):
    """The writer cannot take a report now: answered 503 (`slug`, `detail`), for the feed to retry."""

    slug: str
    detail: str


class WriterBusy(WriterUnavailable):
    """Too many reports are waiting to be written."""

    slug = "busy"
    detail = "too many reports are waiting to be written; retry shortly"


class WriterStopped(WriterUnavailable):
    """The writer's thread has ended: the process is stopping, or a defect ended it (then
    `/readyz` says so, for the process to be replaced)."""

    slug = "writer-stopped"
    detail = "the report writer has stopped; retry shortly"


@dataclass
class _Item:
    submission: Submission
    future: asyncio.Future[Outcome]
    queued_at: float  # time.monotonic()


class ReportWriter(Loop):
    """One thread per process that owns the write transactions of POST /v1/reports: each tick
    writes the reports waiting (it blocks on the queue, so the loop has no interval)."""

    def __init__(
        self,
        db: Database,
        actors: ActorDirectory,
        gazetteer: Callable[[], Gazetteer],
        doorbell: Doorbell,
        max_reports: int = 64,
        max_claims: int = 2000,
        backlog: int = 10_000,
        linger: float = 0.0,
    ) -> None:
        super().__init__("report-writer", interval=0, stop_timeout=10)
        self.db = db
        self.actors = actors
        self.gazetteer = gazetteer
        self.doorbell = doorbell
        self.max_reports = max_reports
        self.max_claims = max_claims
        self.linger = linger
        self.arrivals = Arrivals()
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=backlog)
        self._carry: list[_Item] = []
        self._stop_seen = False  # `stop`'s None was taken from the queue (with reports still carried)
        self._writing: list[_Item] = []  # the batch of the tick in progress
        # Held to queue a report and to close: once closed, nothing is queued that none would answer.
        self._door = threading.Lock()
        self._closed = False

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self.running:
            self._queue.put(None)
            self.join()

    async def write(self, submission: Submission) -> Outcome:
        """Record a report; returns once it is durable (or raises its error)."""
        item = _Item(submission, asyncio.get_running_loop().create_future(), time.monotonic())
        with self._door:
            if self._closed or not self.running:
                raise WriterStopped
            # Noted first: the writer may take the report the instant it is queued, and must then
            # judge the pace with it.
            self.arrivals.note(item.queued_at)
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                raise WriterBusy from None
        return await item.future

    def tick(self) -> None:
        batch, stopping = self._next_batch()
        if batch:
            self._writing = batch
            self._write(batch)
            self._writing = []
        if stopping and not self._carry:
            self.finish()

    def ended(self) -> None:
        """Close, and answer every report still waiting: a tick that raised leaves its batch and
        the queue behind it unanswered (a batch may have committed: its feeds' retries are then
        answered as replays)."""
        if not self.stopping:
            log.error("report_writer.ended", reason="a tick raised (loop.failed says what)")
        with self._door:
            self._closed = True
        waiting = [*self._writing, *self._carry]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                waiting.append(item)
        self._answer(waiting, [WriterStopped()] * len(waiting))

    def _next_batch(self) -> tuple[list[_Item], bool]:
        batch, claims = list(self._carry), 0
        self._carry.clear()
        if not batch:
            if self._stop_seen:
                return [], True
            first = self._queue.get()
            if first is None:
                return [], True
            batch.append(first)
        claims = sum(len(i.submission.report.claims) for i in batch)
        deadline = batch[0].queued_at + self.linger  # no report waits longer than that for company
        while len(batch) < self.max_reports and claims < self.max_claims:
            wait = min(self.arrivals.wait_for_next(self.linger), deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stop_seen = True
                break
            batch.append(item)
            claims += len(item.submission.report.claims)
        return batch, self._stop_seen

    def _write(self, batch: list[_Item]) -> None:
        try:
            results: list[Result | BaseException] = list(self._record(batch))
        except StoreUnavailable as exc:
            self._answer(batch, [exc] * len(batch))
            return
        except Exception:
            if len(batch) == 1:
                log.exception("report_writer.failed", report_id=batch[0].submission.report.id)
                self._answer(batch, [RuntimeError("the report could not be recorded")])
                return
            # Something no report should cause went wrong: retry them one by one, so that a
            # report that triggers it fails alone.
            for item in batch:
                self._write([item])
            return
        self._settle(batch, results)

    def _record(self, batch: list[_Item]) -> list[Result]:
        with self.db.transaction() as conn:
            # The batch's append is its last write: let it carry the COMMIT.
            conn = commit_with_append(conn)
            return record_reports(conn, [i.submission for i in batch], self.actors, self.gazetteer())

    def _settle(self, batch: list[_Item], results: list[Result | BaseException]) -> None:
        answered = [(i, r) for i, r in zip(batch, results, strict=True) if not isinstance(r, Deferred)]
        self._carry.extend(i for i, r in zip(batch, results, strict=True) if isinstance(r, Deferred))
        if any(isinstance(r, Outcome) and r.created for _, r in answered):
            self.doorbell.ring()
        self._answer([i for i, _ in answered], [r for _, r in answered])

    @staticmethod
    def _answer(items: list[_Item], results: list[Result | BaseException]) -> None:
        # One wake-up of each event loop per batch, not one per report.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Item, Result | BaseException]]] = defaultdict(
            list
        )
        for item, result in zip(items, results, strict=True):
            by_loop[item.future.get_loop()].append((item, result))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_resolve, answers)


def _resolve(answers: list[tuple[_Item, Result | BaseException]]) -> None:
    for item, result in answers:
        if item.future.done():
            continue  # the client went away and the request was cancelled
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        elif isinstance(result, Outcome):  # a Deferred one is not answered yet: see _settle
            item.future.set_result(result)
