"""`frontline import --format acled`: an ACLED CSV export, row by row, into the importer.

Each row is told by the line it starts on (the header is line 1; a note with line breaks makes a
row span several). Rows are read as they come, so an export of any size streams.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console

from services.acled.actors import ActorMap
from services.acled.countries import Countries, countries
from services.acled.recording import AcledStage
from services.acled.rows import REQUIRED_COLUMNS, Mapped, Refused, Skipped, map_row
from services.config import Settings
from services.importer import Entry, Summary, import_entries, parse_report, unexpected
from services.importer import Refused as RefusedLine
from services.importer import Skipped as SkippedLine
from services.store.actors import ActorDirectory

SKIPPED = "not a change of territory"


class NotAcled(ValueError):
    """The file is not an ACLED export (its header lacks columns a row needs)."""


def import_acled(
    settings: Settings,
    stream: TextIO,
    actor_map: ActorMap,
    reject_unknown: bool = False,
    console: Console | None = None,
) -> Summary:
    """Import the territorial rows of an ACLED export; prints progress, rejected rows, a summary."""
    console = console or Console(stderr=True)
    reader = csv.DictReader(stream)
    missing = [c for c in REQUIRED_COLUMNS if c not in [f.lstrip("\ufeff") for f in reader.fieldnames or []]]
    if missing:
        raise NotAcled(f"not an ACLED export: the header lacks {', '.join(missing)}")
    if reader.fieldnames and reader.fieldnames[0].startswith("\ufeff"):
        reader.fieldnames = [reader.fieldnames[0].lstrip("\ufeff"), *reader.fieldnames[1:]]
    directory = ActorDirectory()
    stage = AcledStage(directory, reject_unknown=reject_unknown)
    summary = import_entries(
        settings, entries(reader, actor_map, countries()), console, stage, actors=directory
    )
    print_acled_summary(console, summary, stage)
    return summary


def entries(reader: csv.DictReader[str], actor_map: ActorMap, table: Countries) -> Iterator[Entry]:
    """One entry per row; a row that cannot be read is refused, and the next one read."""
    _ = reader.fieldnames  # the header is read first: line 1
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RefusedLine(start, f"not CSV: {exc}")
        else:
            yield entry(start, row, actor_map, table)
        # A row that failed to parse may leave `line_num` short of it: the next starts after it.
        start = max(reader.line_num, start) + 1


def entry(number: int, row: dict[str, str], actor_map: ActorMap, table: Countries) -> Entry:
    try:
        outcome = map_row(row, actor_map, table)
    except Exception as exc:  # a row must never stop the import: report what it did instead
        return RefusedLine(number, unexpected(exc))
    if isinstance(outcome, Skipped):
        return SkippedLine(number, outcome.sub_event_type)
    if isinstance(outcome, Refused):
        return RefusedLine(number, outcome.reason)
    mapped: Mapped = outcome
    return parse_report(number, lambda: mapped.body, mapped)


def print_acled_summary(console: Console, summary: Summary, stage: AcledStage) -> None:
    if summary.skipped:
        kinds = ", ".join(f"{kind} {n}" for kind, n in summary.skipped.most_common())
        console.print(f"skipped ({SKIPPED}): {kinds}", highlight=False)
    if stage.registered:
        console.print(
            f"[bold]{len(stage.registered)}[/] new actors (not in the actor map; map or merge them):",
            highlight=False,
        )
        for acled_name, actor in stage.registered:
            console.print(f"  {acled_name} -> {actor.actor_id} ({actor.name})", highlight=False)
