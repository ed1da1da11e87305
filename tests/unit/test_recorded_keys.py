"""The recorded name keys "did you mean" answers search: read once per interval, not per request."""

from __future__ import annotations

from typing import Any, cast

import pytest
import sqlalchemy as sa

from services.store import places
from services.store.places import RecordedKeys


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_keys_are_read_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[dict[str, str]] = [{"mosul": "mosul-iq"}, {"mosul": "mosul-iq", "rawa": "rawa-iq"}]
    asked: list[object] = []

    def recorded_keys(conn: Any) -> dict[str, str]:
        asked.append(conn)
        return reads[len(asked) - 1]

    monkeypatch.setattr(places, "recorded_keys", recorded_keys)
    clock, conn = Clock(), cast(sa.Connection, object())  # one, as far as the fake read goes
    keys = RecordedKeys(ttl=10.0, clock=clock)
    assert keys.get(conn) == {"mosul": "mosul-iq"}
    clock.now += 9.9
    assert keys.get(conn) == {"mosul": "mosul-iq"}
    assert len(asked) == 1
    clock.now += 0.1
    assert keys.get(conn) == {"mosul": "mosul-iq", "rawa": "rawa-iq"}
    assert len(asked) == 2
