"""Reading an import's lines (no I/O): every line becomes an entry, whatever is wrong with it, and
each is told by the line it starts on."""

from __future__ import annotations

import csv
import io

import pytest

import services.acled.source
from services.acled.actors import ActorMap
from services.acled.countries import countries
from services.acled.source import entries
from services.importer import Refused, Report, Skipped, ndjson_entries, parse_report
from tests.support.acled import export, row


def acled_entries(text: str) -> list[Report | Refused | Skipped]:
    return list(entries(csv.DictReader(io.StringIO(text)), ActorMap.load(), countries()))


def test_a_line_whose_reading_raises_is_refused_as_unexpected() -> None:
    def explode() -> object:
        raise RecursionError("deep")

    assert parse_report(7, explode) == Refused(7, "unexpected error: RecursionError: deep")


def test_ndjson_lines_are_numbered_as_in_the_file() -> None:
    lines = ['{"id": 1}', "", "[1, 2", '"\udce9"']
    got = list(ndjson_entries(lines))
    assert [(type(e), e.number) for e in got] == [(Refused, 1), (Refused, 3), (Refused, 4)]
    assert isinstance(got[1], Refused) and got[1].reason.startswith("not JSON")


def test_acled_rows_are_numbered_by_the_line_they_start_on_even_after_a_bad_one() -> None:
    text = export(
        [
            row("A1"),
            row("A2", notes="x" * 200_000),  # longer than the csv module reads
            row("A3", notes="two\nlines"),
            row("A4", "Armed clash"),
        ]
    )
    got = acled_entries(text)
    assert [(type(e), e.number) for e in got] == [(Report, 2), (Refused, 3), (Report, 4), (Skipped, 6)]
    assert isinstance(got[1], Refused) and got[1].reason.startswith("not CSV: field larger")


def test_an_acled_row_whose_mapping_raises_is_refused_as_unexpected(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> object:
        raise KeyError("admin9")

    monkeypatch.setattr(services.acled.source, "map_row", explode)
    assert acled_entries(export([row("A1")])) == [Refused(2, "unexpected error: KeyError: 'admin9'")]


def test_an_acled_row_that_is_not_utf8_is_refused_alone() -> None:
    got = acled_entries(export([row("A1", notes="caf\udce9"), row("A2")]))
    assert isinstance(got[0], Refused) and "unicode" in got[0].reason
    assert isinstance(got[1], Report)
