"""Bulk import: NDJSON reports through the same validation and idempotency as the HTTP route.

Lines are recorded in chunks, one transaction per chunk, by the same `record_reports` the report
writer uses: each report is still all or nothing, a bad line is reported with its number and
skipped, and a re-run finds every good line already present.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from services.config import Settings
from services.ingest.problems import IdConflict, Rejected
from services.ingest.reports import Deferred, Outcome, Result, Submission, body_hash, record_reports
from services.ingest.schemas import ReportIn
from services.web.runtime import Runtime

CHUNK_REPORTS = 200
CHUNK_CLAIMS = 5000


@dataclass
class Summary:
    stored: int = 0
    present: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.stored + self.present + self.rejected


def import_lines(settings: Settings, lines: Iterable[str], console: Console | None = None) -> Summary:
    """Import every report in `lines`; prints progress, rejected lines and a summary."""
    console = console or Console(stderr=True)
    runtime = Runtime.start(settings)
    summary = Summary()
    try:
        with _progress(console) as progress:
            task = progress.add_task("importing", total=None, rate="-")
            chunk: list[tuple[int, Submission]] = []
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                submission = _parse(number, line, summary, console)
                if submission is not None:
                    chunk.append((number, submission))
                if len(chunk) >= CHUNK_REPORTS or sum(len(s.report.claims) for _, s in chunk) >= CHUNK_CLAIMS:
                    chunk = _record(runtime, chunk, summary, console)
                _advance(progress, task, summary)
            while chunk:
                chunk = _record(runtime, chunk, summary, console)
            _advance(progress, task, summary)
        if summary.stored:
            runtime.doorbell.ring()
    finally:
        runtime.close()
    console.print(
        f"[bold]{summary.stored}[/] stored, [bold]{summary.present}[/] already present, "
        f"[bold]{summary.rejected}[/] rejected"
    )
    return summary


def _parse(number: int, line: str, summary: Summary, console: Console) -> Submission | None:
    try:
        report = ReportIn.model_validate(orjson.loads(line))
    except orjson.JSONDecodeError as exc:
        _reject(summary, console, number, f"not JSON: {exc}")
        return None
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        _reject(summary, console, number, reasons)
        return None
    return Submission(report, body_hash(report))


def _record(
    runtime: Runtime, chunk: list[tuple[int, Submission]], summary: Summary, console: Console
) -> list[tuple[int, Submission]]:
    """Record a chunk in one transaction; returns what must wait for the next one (a repeated id)."""
    with runtime.db.transaction() as conn:
        results = record_reports(conn, [s for _, s in chunk], runtime.actors, runtime.gazetteer)
    later = []
    for (number, submission), result in zip(chunk, results, strict=True):
        if isinstance(result, Deferred):
            later.append((number, submission))
        else:
            _count(number, result, summary, console)
    if summary.stored and summary.stored % 1000 < len(chunk):
        runtime.doorbell.ring()  # let the projector follow a long import
    return later


def _count(number: int, result: Result, summary: Summary, console: Console) -> None:
    if isinstance(result, Rejected):
        _reject(summary, console, number, str(result))
    elif isinstance(result, IdConflict):
        _reject(summary, console, number, f"id {result.request_id!r} was used with another body")
    elif isinstance(result, Outcome) and result.created:
        summary.stored += 1
    else:
        summary.present += 1


def _reject(summary: Summary, console: Console, number: int, reason: str) -> None:
    summary.rejected += 1
    summary.errors.append((number, reason))
    console.print(f"[red]line {number}[/]: {reason}", highlight=False)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed} reports"),
        TextColumn("{task.fields[rate]} reports/s"),
        TimeElapsedColumn(),
        console=console,
    )


def _advance(progress: Progress, task: TaskID, summary: Summary) -> None:
    elapsed = progress.tasks[0].elapsed or 0
    rate = f"{summary.lines / elapsed:,.0f}" if elapsed > 0 else "-"
    progress.update(task, completed=summary.lines, rate=rate)
