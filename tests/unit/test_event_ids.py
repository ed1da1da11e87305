"""Event ids: UUIDs of version 7, so that ids made in turn sort in turn (store/event_log.py says why)."""

from __future__ import annotations

import uuid

from services.domain.events import CONTROL_CHANGED
from services.store.event_log import NewEvent, new_event_id


def test_ids_made_in_turn_sort_in_turn_and_never_repeat() -> None:
    ids = [new_event_id() for _ in range(50_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_is_a_version_7_uuid_in_its_usual_spelling() -> None:
    made = new_event_id()
    parsed = uuid.UUID(made)
    assert parsed.version == 7
    assert str(parsed) == made


def test_each_new_event_gets_its_own_id() -> None:
    first, second = (NewEvent(type=CONTROL_CHANGED, stream_id="p", data={}) for _ in range(2))
    assert first.event_id != second.event_id
    assert first.event_id < second.event_id
