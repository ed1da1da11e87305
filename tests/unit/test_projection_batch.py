"""The projection of one batch, with no I/O: registrations and renames of places no claim has named."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from services.domain.control import EMPTY
from services.domain.events import (
    ACTOR_REGISTERED,
    PLACE_NAMES_CHANGED,
    PLACE_REGISTERED,
    RecordedEvent,
)
from services.projector.batch import project_batch
from services.store.control_rows import ClaimRecord, Key, RefoldContext, StoredPlace


class NothingStored:
    """A loader over empty read models."""

    def place_states(self, place_ids: Collection[str]) -> dict[str, StoredPlace]:
        return {}

    def claims(self, event_ids: Collection[str]) -> dict[str, ClaimRecord]:
        return {}

    def refold_context(self, bounds: dict[str, Key]) -> RefoldContext:
        return RefoldContext()


def event(position: int, event_type: str, stream_id: str, data: dict[str, Any]) -> RecordedEvent:
    return RecordedEvent(
        position=position,
        event_id=f"e{position}",
        type=event_type,
        stream_id=stream_id,
        stream_version=1,
        occurred_at=None,
        occurred_start=None,
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
        request_id=None,
        target_event_id=None,
        data=data,
    )


def test_a_registered_place_gets_an_empty_state_at_the_registration() -> None:
    changes = project_batch(
        [event(7, PLACE_REGISTERED, "tell-foo-sy", {"place_id": "tell-foo-sy"})], NothingStored()
    )
    assert changes.position == 7
    assert changes.places == {"tell-foo-sy": StoredPlace(EMPTY, 7)}


def test_a_rename_of_a_place_with_no_state_lists_it_as_changed() -> None:
    renamed = event(9, PLACE_NAMES_CHANGED, "tell-foo-sy", {"place_id": "tell-foo-sy", "name": "Tell Bar"})
    changes = project_batch([renamed], NothingStored())
    assert changes.places == {"tell-foo-sy": StoredPlace(EMPTY, 9)}


def test_a_registered_actor_moves_only_the_checkpoint() -> None:
    changes = project_batch(
        [event(3, ACTOR_REGISTERED, "tribal-council-x", {"actor_id": "x"})], NothingStored()
    )
    assert changes.position == 3
    assert (changes.places, changes.new_claims, changes.changed_claims) == ({}, [], [])
