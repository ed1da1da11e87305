"""Bulk import: NDJSON reports through the same validation and idempotency as the HTTP route."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from services.config import Settings
from services.ingest.problems import IdConflict, Rejected
from services.ingest.reports import Outcome, Submission, body_hash, record_reports
from services.ingest.schemas import ReportIn
from services.web.runtime import Runtime


@dataclass
class Summary:
    stored: int = 0
    present: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def import_lines(settings: Settings, lines: Iterable[str], console: Console | None = None) -> Summary:
    """Record each line's report in its own transaction; a bad line is reported and skipped."""
    console = console or Console(stderr=True)
    runtime = Runtime.start(settings)
    summary = Summary()
    try:
        with _progress(console) as progress:
            task = progress.add_task("importing", total=None)
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    _import_one(runtime, number, line, summary, console)
                progress.update(task, advance=1, rate=_rate(progress, task))
        if summary.stored:
            runtime.doorbell.ring()
    finally:
        runtime.close()
    console.print(
        f"[bold]{summary.stored}[/] stored, [bold]{summary.present}[/] already present, "
        f"[bold]{summary.rejected}[/] rejected"
    )
    return summary


def _import_one(runtime: Runtime, number: int, line: str, summary: Summary, console: Console) -> None:
    try:
        report = ReportIn.model_validate(orjson.loads(line))
    except orjson.JSONDecodeError as exc:
        return _reject(summary, console, number, f"not JSON: {exc}")
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return _reject(summary, console, number, reasons)
    with runtime.db.transaction() as conn:
        [result] = record_reports(
            conn, [Submission(report, body_hash(report))], runtime.actors, runtime.gazetteer
        )
    if isinstance(result, Rejected):
        return _reject(summary, console, number, str(result))
    if isinstance(result, IdConflict):
        return _reject(summary, console, number, f"id {result.request_id!r} was used with another body")
    assert isinstance(result, Outcome)
    if result.created:
        summary.stored += 1
        if summary.stored % 500 == 0:
            runtime.doorbell.ring()  # let the projector follow a long import
    else:
        summary.present += 1
    return None


def _reject(summary: Summary, console: Console, number: int, reason: str) -> None:
    summary.rejected += 1
    summary.errors.append((number, reason))
    console.print(f"[red]line {number}[/]: {reason}", highlight=False)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} reports/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _rate(progress: Progress, task_id: int) -> str:
    task = progress.tasks[task_id]
    elapsed = task.elapsed or 0
    return f"{task.completed / elapsed:,.0f}" if elapsed > 0 else "-"
