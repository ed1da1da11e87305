"""A catch-up that has reached the log's end lingers before it looks again (PROJECTION_LINGER): the
reports that arrive meanwhile are folded by one batch, in one transaction, not one batch each."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.doorbell import LocalDoorbell
from services.projector import jobs, process
from services.projector.embedded import EmbeddedProjector
from services.projector.runner import CatchUp, catch_up
from services.store import event_log
from services.store.database import Database
from tests.support.apps import settings_for
from tests.support.events import control_changed
from tests.support.workers import caught_up, wait_until


def _report(db: Database, place: str, day: int) -> int:
    claim = control_changed(place, "iraqi-forces", 100, f"2020-01-{day:02d}")
    with db.transaction() as conn:
        return event_log.append(conn, [claim])[0].position


def test_reports_arriving_while_a_catch_up_lingers_are_folded_in_one_batch(db: Database) -> None:
    place = f"linger-{uuid.uuid4().hex[:8]}"
    first = _report(db, place, 1)
    results: list[CatchUp] = []
    runner = threading.Thread(target=lambda: results.append(catch_up(db, batch_size=100, linger=1.5)))
    runner.start()
    wait_until(lambda: caught_up(db), 10, f"position {first}")  # its first batch: it lingers now
    later = [_report(db, place, day) for day in (2, 3, 4)]  # three transactions of their own
    runner.join(timeout=30)

    assert not runner.is_alive()
    (done,) = results
    # The first report alone, then the three that arrived during the linger together.
    assert (done.events, done.batches, done.position) == (4, 2, later[-1])
    assert done.caught_up
    assert caught_up(db)


def test_without_linger_a_catch_up_ends_at_the_first_batch_that_finds_nothing(db: Database) -> None:
    place = f"linger-{uuid.uuid4().hex[:8]}"
    position = _report(db, place, 1)
    started = time.monotonic()
    done = catch_up(db, batch_size=100, linger=0.0)
    assert (done.events, done.batches, done.position, done.caught_up) == (1, 1, position, True)
    assert time.monotonic() - started < 1.0


def test_the_catch_up_job_lingers_as_configured(
    fresh_pg_url: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = process.ProjectorContext(settings_for(fresh_pg_url, cache_dir, projection_linger=0.7))
    asked: dict[str, Any] = {}

    def catching_up(db: Database, name: str, **options: Any) -> CatchUp:
        asked.update(options)
        return catch_up(db, name, **options)

    monkeypatch.setattr(jobs.process, "current", lambda: context)
    monkeypatch.setattr(jobs, "run_catch_up", catching_up)
    try:
        assert jobs.catch_up()["caught_up"]
    finally:
        context.database().dispose()
    assert asked["linger"] == 0.7


def test_the_embedded_projector_tells_of_each_advance_while_reports_stream_in(db: Database) -> None:
    # It lingers between its ticks, not inside a catch-up: under a steady stream a catch-up that
    # lingered would never return, and the read side (on SQLite it hears of no commit otherwise)
    # would learn nothing until the stream stopped.
    place = f"linger-{uuid.uuid4().hex[:8]}"
    advances: list[tuple[float, int]] = []
    doorbell = LocalDoorbell()
    projector = EmbeddedProjector(
        db, doorbell, 5.0, 100, on_advance=lambda p: advances.append((time.monotonic(), p)), linger=0.05
    )
    projector.start()
    try:
        for day in range(1, 29):  # 28 reports over about 0.8 s
            _report(db, place, day)
            doorbell.ring()
            time.sleep(0.03)
        stream_ended = time.monotonic()
        last = _report(db, place, 28)
        doorbell.ring()
        wait_until(lambda: caught_up(db), 10, f"position {last}")
    finally:
        projector.stop()
    told_while_streaming = [p for t, p in advances if t < stream_ended]
    assert len(told_while_streaming) >= 5, advances
    assert told_while_streaming == sorted(told_while_streaming)
    assert len(advances) < 29  # and the linger gathered reports into ticks
