"""Group commit: reports recorded together stay all or nothing each."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from services import gazetteer
from services.doorbell import NoDoorbell
from services.ingest.problems import IdConflict, Rejected
from services.ingest.reports import Deferred, Outcome, Submission, body_hash, record_reports
from services.ingest.schemas import ReportIn
from services.ingest.writer import ReportWriter, WriterStopped, _Item
from services.store import event_log
from services.store.actors import ActorDirectory
from services.store.database import Database


def submission(*claims: dict[str, object], report_id: str | None = None) -> Submission:
    report = ReportIn.model_validate(
        {"id": report_id or uuid.uuid4().hex, "source": {"name": "t"}, "claims": list(claims)}
    )
    return Submission(report, body_hash(report))


GOOD = {"place": "Rawa", "actor": "ISF", "occurred_at": "2017-11-17"}
NEW_PLACE = {
    "place": "Camp Seven",
    "country": "IQ",
    "location": {"lat": 34.1, "lon": 42.3},
    "actor": "PMF",
    "occurred_at": "2017-12",
}


def test_a_bad_report_in_a_batch_writes_nothing_while_the_others_go_in(db: Database, cache_dir: Path) -> None:
    gz = gazetteer.load(["IQ", "SY"], cache_dir)
    good = submission(GOOD)
    # The bad report would have created a place before its second claim failed: that must not stay.
    bad = submission(NEW_PLACE, {**GOOD, "actor": "Nobody"})
    twice = submission(GOOD, report_id=good.report.id)
    other = submission({**GOOD, "share": 50}, report_id=good.report.id)
    with db.transaction() as conn:
        results = record_reports(conn, [good, bad, twice, other], ActorDirectory(), gz)
    assert isinstance(results[0], Outcome) and results[0].created
    assert isinstance(results[1], Rejected)
    assert isinstance(results[2], Deferred) and isinstance(results[3], Deferred)
    with db.transaction() as conn:
        again = record_reports(conn, [twice, other, submission(NEW_PLACE)], ActorDirectory(), gz)
    assert isinstance(again[0], Outcome) and not again[0].created
    assert again[0].answer == results[0].answer  # type: ignore[union-attr]
    assert isinstance(again[1], IdConflict)
    assert isinstance(again[2], Outcome) and again[2].answer.events[0].place_created
    with db.snapshot() as conn:
        logged = event_log.read_after(conn, 0, 100)
    assert [e.request_id for e in logged] == [good.report.id, again[2].answer.report_id]


class _BrokenDoorbell:
    """A defect after a batch's commit (a doorbell's ring once raised): the writer's thread ends."""

    def ring(self) -> None:
        raise RuntimeError("a defect")


def test_a_writer_whose_thread_ends_answers_every_waiting_report_and_refuses_later_ones(
    db: Database, cache_dir: Path
) -> None:
    gz = gazetteer.load(["IQ", "SY"], cache_dir)
    writer = ReportWriter(db, ActorDirectory(), lambda: gz, _BrokenDoorbell())
    writer.start()
    reports = [submission(GOOD) for _ in range(3)]

    async def post(batch: list[Submission]) -> list[Any]:
        return await asyncio.wait_for(
            asyncio.gather(*(writer.write(s) for s in batch), return_exceptions=True), timeout=20
        )

    answers = asyncio.run(post(reports))  # none waits for ever: the wait_for would raise
    writer.join()
    assert not writer.running
    assert [type(a) for a in answers] == [WriterStopped] * 3
    assert [type(a) for a in asyncio.run(post([submission(GOOD)]))] == [WriterStopped]
    # What committed before the ring stays: a feed's retry is answered as a replay.
    with db.transaction() as conn:
        again = record_reports(conn, reports[:1], ActorDirectory(), gz)
    assert isinstance(again[0], Outcome) and not again[0].created


class _CountingWriter(ReportWriter):
    """A report writer that notes how many reports each of its batches holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def _record(self, batch: list[Any]) -> Any:
        self.batches.append(len(batch))
        return super()._record(batch)


def _posted(writer: ReportWriter, count: int, gap: float) -> list[float]:
    """`count` reports, `gap` seconds apart, each awaited as a route does: the seconds each took."""

    async def one(s: Submission) -> float:
        began = time.monotonic()
        await writer.write(s)
        return time.monotonic() - began

    async def post() -> list[float]:
        tasks = []
        for _ in range(count):
            tasks.append(asyncio.create_task(one(submission(GOOD))))
            await asyncio.sleep(gap)
        return list(await asyncio.gather(*tasks))

    return asyncio.run(post())


def test_reports_that_follow_closely_share_a_transaction_and_sparse_ones_wait_for_none(
    db: Database, cache_dir: Path
) -> None:
    gz = gazetteer.load(["IQ", "SY"], cache_dir)
    writer = _CountingWriter(db, ActorDirectory(), lambda: gz, NoDoorbell(), linger=0.2)
    writer.start()
    try:
        _posted(writer, 40, 0.003)  # 330 a second
        close, writer.batches = writer.batches, []
        took = _posted(writer, 5, 0.5)  # 2 a second: further apart than the linger
    finally:
        writer.stop()
    assert sum(close) == 40
    assert len(close) <= 10  # a few reports a transaction; without waiting, one or two each
    assert writer.batches == [1] * 5
    assert max(took) < 0.15  # each written at once, not after the 0.2 s a batch may wait


def test_a_stop_that_comes_while_a_report_is_carried_over_ends_the_writer(
    db: Database, cache_dir: Path
) -> None:
    """The same report id twice in a batch carries the second over to the next batch; a stop taken
    from the queue meanwhile must still end the writer once the carried report is written."""
    gz = gazetteer.load(["IQ", "SY"], cache_dir)
    writer = ReportWriter(db, ActorDirectory(), lambda: gz, NoDoorbell())
    loop = asyncio.new_event_loop()
    try:
        first = submission(GOOD)
        items = [_Item(s, loop.create_future(), time.monotonic()) for s in (first, first)]
        for item in [*items, None]:
            writer._queue.put(item)
        ticks = threading.Thread(target=lambda: [writer.tick() for _ in range(3)], daemon=True)
        ticks.start()
        ticks.join(10)
        assert not ticks.is_alive()  # the third tick found the stop it had taken, and did not block
        assert writer.stopping
        loop.run_until_complete(asyncio.sleep(0))  # the answers, handed to this loop
        created = [i.future.result().created for i in items]
    finally:
        loop.close()
    assert created == [True, False]  # the first recorded it, the carried one was its replay
