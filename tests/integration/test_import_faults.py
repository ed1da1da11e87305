"""`frontline import` when a line fails in a way validation did not foresee: the line is reported
with its number, the other lines of its chunk go in, and nothing is written twice (issue 11, item 3).

Faults are injected at the chunk's write (the records are written, then the transaction fails),
and real inputs that made the writer fail are run through the command itself."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from rich.console import Console

import services.importer
from services.acled.actors import ActorMap
from services.acled.source import import_acled
from services.config import Settings
from services.importer import import_lines
from services.ingest.reports import Submission, record_reports
from services.store.database import Database
from services.store.errors import StoreUnavailable
from services.store.schema import actors, events
from tests.integration.test_cli import environment, run
from tests.support.acled import export, row

FAULT = "injected fault"


def report(report_id: str, place: str = "Mosul", when: str = "2017-07", **claim: Any) -> str:
    body = {
        "id": report_id,
        "source": {"name": "file"},
        "claims": [{"place": place, "actor": "ISF", "occurred_at": when, **claim}],
    }
    return orjson.dumps(body).decode()


def fail_when_recording(monkeypatch: pytest.MonkeyPatch, bad_id: str) -> None:
    """The chunk holding `bad_id` writes everything, then fails (so the transaction rolls back)."""

    def faulty(conn: sa.Connection, batch: Sequence[Submission], *args: Any) -> Any:
        results = record_reports(conn, batch, *args)
        if any(s.report.id == bad_id for s in batch):
            raise RuntimeError(FAULT)
        return results

    monkeypatch.setattr(services.importer, "record_reports", faulty)


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200), out


def request_ids(db: Database) -> list[str]:
    with db.snapshot() as conn:
        return sorted(conn.execute(sa.select(events.c.request_id)).scalars())


def test_a_line_that_fails_the_chunk_costs_only_itself(
    backend_url: str, db: Database, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_when_recording(monkeypatch, "r3")
    lines = [report(f"r{i}") for i in range(1, 7)]
    settings = Settings(database_url=backend_url, cache_dir=cache_dir, redis_url="")
    screen, out = console()

    summary = import_lines(settings, lines, screen)

    assert (summary.stored, summary.rejected, summary.exit_code) == (5, 1, 1)
    assert summary.errors == [(3, f"unexpected error: RuntimeError: {FAULT}")]
    assert f"line 3: unexpected error: RuntimeError: {FAULT}" in out.getvalue()
    assert "Traceback" not in out.getvalue()
    assert request_ids(db) == ["r1", "r2", "r4", "r5", "r6"]  # each once: the failed write rolled back


def test_an_actor_registered_by_a_failed_chunk_is_registered_again(
    backend_url: str, db: Database, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_when_recording(monkeypatch, "acled:SYR2")
    rows = [row("SYR1", actor1="HTS: Hayat Tahrir al Sham", location="Hajin"), row("SYR2")]
    settings = Settings(database_url=backend_url, cache_dir=cache_dir, redis_url="")
    screen, out = console()

    summary = import_acled(settings, io.StringIO(export(rows)), ActorMap.load(), console=screen)

    assert (summary.stored, summary.rejected) == (1, 1)
    assert summary.errors == [(3, f"unexpected error: RuntimeError: {FAULT}")]
    with db.snapshot() as conn:
        rows = conn.execute(sa.select(events.c.type, events.c.data).order_by(events.c.position))
        logged = [(r.type, r.data["actor_id"]) for r in rows]
        registered = list(conn.execute(sa.select(actors.c.actor_id)).scalars())
    actor_id = "hayat-tahrir-al-sham"
    # The claim's actor exists, registered again (once) after the rollback, its event before the claim.
    assert logged == [("ActorRegistered", actor_id), ("ControlChanged", actor_id)]
    assert registered == [actor_id]
    assert out.getvalue().count("HTS: Hayat Tahrir al Sham ->") == 1


def test_a_database_that_stops_answering_stops_the_run_and_a_rerun_resumes(
    fresh_sqlite_url: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.importer, "CHUNK_REPORTS", 2)
    lines = [report(f"r{i}") for i in range(1, 6)]
    settings = Settings(database_url=fresh_sqlite_url, cache_dir=cache_dir, redis_url="")
    working = Database.transaction
    calls = 0

    @contextmanager
    def going_down(self: Database) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:  # after the first chunk, the database is gone
            raise StoreUnavailable("connection refused")
        with working(self) as conn:
            yield conn

    monkeypatch.setattr(Database, "transaction", going_down)
    screen, out = console()
    stopped = import_lines(settings, lines, screen)
    assert (stopped.stored, stopped.rejected, stopped.exit_code) == (2, 0, 3)
    assert "at line 3, the database stopped answering" in out.getvalue()

    monkeypatch.setattr(Database, "transaction", working)
    resumed = import_lines(settings, lines, console()[0])
    assert (resumed.stored, resumed.present, resumed.exit_code) == (3, 2, 0)


def test_real_inputs_that_made_the_writer_fail_cost_only_their_line(
    backend_url: str, db: Database, cache_dir: Path, tmp_path: Path
) -> None:
    """A pre-1000 date and a 300-character new place made the writer raise: whether they are now
    stored or refused, the good lines around them go in, and no traceback is printed."""
    tag = uuid.uuid4().hex[:6]
    good = [f"good-{tag}-{i}" for i in range(3)]
    lines = [
        report(good[0]),
        report(f"old-{tag}", when="0999-06-01T00:00:00Z"),
        report(good[1]),
        report(f"long-{tag}", place="Q" * 300, country="UA", location={"lat": 47.0, "lon": 35.0}),
        report(good[2]),
    ]
    path = tmp_path / "reports.ndjson"
    path.write_text("\n".join(lines) + "\n")

    done = run(["import", str(path)], environment(backend_url, cache_dir))

    assert "Traceback" not in done.stderr, done.stderr
    stored = request_ids(db)
    assert set(good) <= set(stored)
    for number, report_id in [(2, f"old-{tag}"), (4, f"long-{tag}")]:
        assert (report_id in stored) != (f"line {number}:" in done.stderr), done.stderr
    rejected = len(lines) - len(stored)
    assert done.returncode == (1 if rejected else 0)
    assert f"{len(stored)} stored, 0 already present, {rejected} rejected" in done.stderr.replace("\n", " ")
