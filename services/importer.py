"""Bulk import: reports through the same validation, idempotency and log as POST /v1/reports.

A format (NDJSON of reports here; ACLED CSV in `services.acled.source`) turns each line of its input
into an entry: a report to record, a line refused before recording (with its reason), or a line
skipped on purpose. Reports are recorded in chunks, one transaction per chunk, by the same
`record_reports` the report writer uses: each report is still all or nothing, a refused one is
reported with its line number and reason, and a re-run finds every good line already present.

One line never costs the others. A line that fails in a way validation did not foresee makes its
chunk's write raise: the chunk is rolled back and written again one line per transaction, so every
good line goes in and only the failing one is reported, as an unexpected error with its line, never
as a traceback (the traceback goes to the log at DEBUG). Only a database that stops answering stops
the run, since every line after it would fail the same way; what was stored stays, and a re-run
picks up from there.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from services.config import Settings
from services.ingest.problems import IdConflict, Rejected
from services.ingest.reports import Deferred, Outcome, Result, Submission, body_hash, record_reports
from services.ingest.schemas import ReportIn
from services.store.actors import ActorDirectory
from services.web.runtime import Runtime

log = logging.getLogger(__name__)

CHUNK_REPORTS = 200
CHUNK_CLAIMS = 5000
RING_EVERY = 1000  # reports stored between doorbell rings, so the projector follows a long import

# Exit codes of `frontline import` (see the README).
EXIT_OK = 0  # every line stored, already present or skipped on purpose
EXIT_REJECTED = 1  # some lines were rejected (each reported); every other line went in
EXIT_USAGE = 2  # the input could not be read at all (no such file, not the format asked for)
EXIT_STOPPED = 3  # the database stopped answering: the run stopped at the line it names


@dataclass(frozen=True)
class Report:
    """A line to record as a report; `extra` is what its format needs around recording it."""

    number: int
    submission: Submission
    extra: Any = None


@dataclass(frozen=True)
class Refused:
    """A line rejected before recording."""

    number: int
    reason: str


@dataclass(frozen=True)
class Skipped:
    """A line left out on purpose (not a claim), counted by `why`."""

    number: int
    why: str


Entry = Report | Refused | Skipped


class Stage(Protocol):
    """What a format does around recording a chunk, in the chunk's transaction."""

    def before(self, conn: sa.Connection, chunk: Sequence[Report]) -> dict[int, str]:
        """Prepare the chunk's reports; returns the lines refused instead (number -> reason)."""
        ...

    def after(self, conn: sa.Connection, chunk: Sequence[Report], results: Sequence[Result]) -> None:
        """Follow up on what recording did (in the same transaction)."""
        ...

    def finish(self, committed: bool) -> None:
        """The chunk's transaction committed, or rolled back (forget what it staged)."""
        ...


class NoStage:
    def before(self, conn: sa.Connection, chunk: Sequence[Report]) -> dict[int, str]:
        return {}

    def after(self, conn: sa.Connection, chunk: Sequence[Report], results: Sequence[Result]) -> None:
        return None

    def finish(self, committed: bool) -> None:
        return None


@dataclass
class Summary:
    stored: int = 0
    present: int = 0
    rejected: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[int, str]] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early, if it did

    @property
    def lines(self) -> int:
        return self.stored + self.present + self.rejected + self.skipped.total()

    @property
    def exit_code(self) -> int:
        if self.stopped is not None:
            return EXIT_STOPPED
        return EXIT_REJECTED if self.rejected else EXIT_OK


class Stopped(Exception):
    """The database stopped answering; the run cannot go on."""


def import_lines(settings: Settings, lines: Iterable[str], console: Console | None = None) -> Summary:
    """Import every NDJSON report in `lines`; prints progress, rejected lines and a summary."""
    return import_entries(settings, ndjson_entries(lines), console)


def ndjson_entries(lines: Iterable[str]) -> Iterator[Entry]:
    """One entry per non-blank line of NDJSON reports."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_report(number, lambda line=line: orjson.loads(line))


def parse_report(number: int, load: Any, extra: Any = None) -> Report | Refused:
    """A line's report, validated as POST /v1/reports validates it, or why it is refused."""
    try:
        report = ReportIn.model_validate(load())
        return Report(number, Submission(report, body_hash(report)), extra)
    except orjson.JSONDecodeError as exc:
        return Refused(number, f"not JSON: {exc}")
    except ValidationError as exc:
        return Refused(number, validation_reasons(exc))
    except orjson.JSONEncodeError as exc:  # text that is not UTF-8, read with surrogateescape
        return Refused(number, f"not UTF-8 text: {exc}")
    except Exception as exc:  # a line must never stop the import: report what it did instead
        log.debug("line %d could not be read", number, exc_info=True)
        return Refused(number, unexpected(exc))


def validation_reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])


def unexpected(exc: BaseException) -> str:
    """An unforeseen failure, told in one line: its type and the first line of its message (a
    database error's message goes on with the statement and its parameters)."""
    orig = getattr(exc, "orig", None) or exc
    message = (str(orig).strip().splitlines() or [""])[0][:300]
    return f"unexpected error: {type(orig).__name__}: {message}"


def import_entries(
    settings: Settings,
    entries: Iterable[Entry],
    console: Console | None = None,
    stage: Stage | None = None,
    actors: ActorDirectory | None = None,
) -> Summary:
    """Record every report among `entries`; prints progress, rejected lines and a summary.

    `actors` is the directory the stage resolves with, so that both see the same actors."""
    console = console or Console(stderr=True)
    runtime = Runtime.start(settings)
    if actors is not None:
        runtime.actors = actors
    importer = _Importer(runtime, console, stage or NoStage())
    try:
        with _progress(console) as progress:
            importer.run(entries, progress)
    except Stopped as exc:
        importer.summary.stopped = str(exc)
    finally:
        importer.ring()
        runtime.close()
    print_summary(console, importer.summary)
    return importer.summary


def print_summary(console: Console, summary: Summary) -> None:
    console.print(
        f"[bold]{summary.stored}[/] stored, [bold]{summary.present}[/] already present, "
        f"[bold]{summary.rejected}[/] rejected"
        + (f", [bold]{summary.skipped.total()}[/] skipped" if summary.skipped else "")
    )
    if summary.stopped is not None:
        console.print(f"[red]stopped[/]: {summary.stopped}; a re-run stores what is missing", highlight=False)


class _Importer:
    def __init__(self, runtime: Runtime, console: Console, stage: Stage) -> None:
        self.runtime = runtime
        self.console = console
        self.stage = stage
        self.summary = Summary()
        self._rung_at = 0

    def run(self, entries: Iterable[Entry], progress: Progress) -> None:
        task = progress.add_task("importing", total=None, rate="-")
        chunk: list[Report] = []
        claims = 0
        for n, entry in enumerate(entries):
            if isinstance(entry, Refused):
                self._reject(entry.number, entry.reason)
            elif isinstance(entry, Skipped):
                self.summary.skipped[entry.why] += 1
            else:
                chunk.append(entry)
                claims += len(entry.submission.report.claims)
                if len(chunk) >= CHUNK_REPORTS or claims >= CHUNK_CLAIMS:
                    chunk = self._record(chunk)
                    claims = sum(len(r.submission.report.claims) for r in chunk)
            if n % 100 == 0:
                _advance(progress, task, self.summary)
        while chunk:
            chunk = self._record(chunk)
        _advance(progress, task, self.summary)

    def _record(self, chunk: list[Report]) -> list[Report]:
        """Record a chunk; returns what must wait for the next one (a report id repeated in it).

        A chunk whose write fails is written again line by line; the line that fails alone is
        the one to blame."""
        try:
            later = self._write(chunk)
        except Exception as exc:
            self.runtime.actors.forget()  # it may hold actors the rolled-back transaction added
            self._stop_if_unreachable(chunk[0].number, exc)
            if len(chunk) == 1:
                log.debug("line %d failed", chunk[0].number, exc_info=True)
                self._reject(chunk[0].number, unexpected(exc))
                return []
            return [entry for one in chunk for entry in self._record([one])]
        if self.summary.stored - self._rung_at >= RING_EVERY:
            self.ring()
        return later

    def _write(self, chunk: list[Report]) -> list[Report]:
        try:
            with self.runtime.db.transaction() as conn:
                refused = self.stage.before(conn, chunk)
                kept = [r for r in chunk if r.number not in refused]
                results = record_reports(
                    conn, [r.submission for r in kept], self.runtime.actors, self.runtime.gazetteer
                )
                self.stage.after(conn, kept, results)
        except BaseException:
            self.stage.finish(committed=False)
            raise
        self.stage.finish(committed=True)
        for number, reason in refused.items():
            self._reject(number, reason)
        later = []
        for entry, result in zip(kept, results, strict=True):
            if isinstance(result, Deferred):
                later.append(entry)
            else:
                self._count(entry.number, result)
        return later

    def _stop_if_unreachable(self, number: int, exc: Exception) -> None:
        try:
            with self.runtime.db.transaction() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as down:
            raise Stopped(f"at line {number}, the database stopped answering ({unexpected(down)})") from exc

    def _count(self, number: int, result: Result) -> None:
        if isinstance(result, Rejected):
            self._reject(number, str(result))
        elif isinstance(result, IdConflict):
            self._reject(number, f"id {result.request_id!r} was used with another body")
        elif isinstance(result, Outcome) and result.created:
            self.summary.stored += 1
        else:
            self.summary.present += 1

    def _reject(self, number: int, reason: str) -> None:
        self.summary.rejected += 1
        self.summary.errors.append((number, reason))
        self.console.print(f"[red]line {number}[/]: {reason}", highlight=False)

    def ring(self) -> None:
        """Wake the projector; a doorbell that fails costs latency (its reconciler catches up)."""
        if self.summary.stored == self._rung_at:
            return
        try:
            self.runtime.doorbell.ring()
        except Exception as exc:
            self.console.print(f"[yellow]the projector could not be woken[/]: {unexpected(exc)}")
        self._rung_at = self.summary.stored


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed} lines"),
        TextColumn("{task.fields[rate]} lines/s"),
        TimeElapsedColumn(),
        console=console,
    )


def _advance(progress: Progress, task: TaskID, summary: Summary) -> None:
    elapsed = progress.tasks[0].elapsed or 0
    rate = f"{summary.lines / elapsed:,.0f}" if elapsed > 0 else "-"
    progress.update(task, completed=summary.lines, rate=rate)
