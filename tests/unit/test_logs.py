"""LOG_FORMAT=auto: readable lines for a person (a terminal, `make run`), JSON for a container."""

from __future__ import annotations

import sys

import pytest

from services.logs import resolve_format


def test_auto_picks_the_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert resolve_format("auto") == "json"  # a container: no terminal
    assert resolve_format("auto", dev=True) == "console"  # `make run`, whatever stderr is
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert resolve_format("auto") == "console"
    assert resolve_format("json") == "json"  # an explicit choice stands
