"""`frontline import FILE`: open the input (a file, or `-` for stdin) and hand it to its format.

Exit codes: 0 every line stored, already present or skipped on purpose; 1 some lines rejected
(each reported with its line and reason; every other line went in); 2 the input could not be read
as the format asked for (no such file, not an ACLED export, a bad actor map); 3 the database stopped
answering mid-run (what was stored stays; a re-run stores the rest).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich.console import Console

from services.config import Settings
from services.importer import EXIT_USAGE, import_lines


class Unreadable(Exception):
    """The input cannot be read as the format asked for: nothing was imported."""


def run(
    settings: Settings, file: str, fmt: str, reject_unknown: bool = False, actor_map: Path | None = None
) -> int:
    """Import `file` in format `fmt` (`ndjson` or `acled`); returns the exit code."""
    console = Console(stderr=True)
    try:
        if fmt == "acled":
            return _acled(settings, file, console, reject_unknown, actor_map)
        with _opened(file) as stream:
            return import_lines(settings, stream, console).exit_code
    except Unreadable as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        return EXIT_USAGE


def _acled(
    settings: Settings, file: str, console: Console, reject_unknown: bool, actor_map: Path | None
) -> int:
    from services.acled.actors import ActorMap, ActorMapError
    from services.acled.source import NotAcled, import_acled

    try:
        table = ActorMap.load(actor_map)
        with _opened(file) as stream:
            return import_acled(settings, stream, table, reject_unknown, console).exit_code
    except (ActorMapError, NotAcled) as exc:
        raise Unreadable(str(exc)) from None


@contextmanager
def _opened(file: str) -> Iterator[TextIO]:
    # Bytes that are not UTF-8 are kept as surrogates, so that the line holding them is refused
    # (not UTF-8 text) instead of stopping the read; `utf-8-sig` drops the BOM spreadsheets write.
    if file == "-":
        sys.stdin.reconfigure(encoding="utf-8-sig", errors="surrogateescape")  # type: ignore[union-attr]
        yield sys.stdin
        return
    try:
        stream = Path(file).open(encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115
    except OSError as exc:
        raise Unreadable(f"cannot read {file}: {exc.strerror or exc}") from None
    with stream:
        yield stream
