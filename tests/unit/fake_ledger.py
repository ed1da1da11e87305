"""A Ledger over dicts: the store as idempotent writes meet it, with no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.domain.events import RecordedEvent
from services.ingest.idempotency import Kind, Written
from services.store.event_log import Appended, NewEvent


@dataclass
class FakeLedger:
    """Stored hashes by (kind, id) and the log. `rival` names ids a concurrent writer claims first,
    with the hash it stores: a write then claims none of them."""

    hashes: dict[tuple[str, str], str] = field(default_factory=dict)
    log: list[RecordedEvent] = field(default_factory=list)
    rival: dict[str, str] = field(default_factory=dict)

    def stored_hashes(self, kind: Kind, request_ids: Sequence[str]) -> dict[str, str]:
        return {i: self.hashes[kind.name, i] for i in request_ids if (kind.name, i) in self.hashes}

    def write(self, kind: Kind, digests: Mapping[str, str], new_events: Sequence[NewEvent]) -> Written:
        for request_id, digest in self.rival.items():
            self.hashes[kind.name, request_id] = digest
        claimed = {i for i in digests if (kind.name, i) not in self.hashes}
        self.hashes.update({(kind.name, i): digests[i] for i in claimed})
        kept = [e for e in new_events if e.request_id is None or e.request_id in claimed]
        return Written(frozenset(claimed), {a.event_id: a for a in map(self._append, kept)})

    def recorded(self, kind: Kind, request_ids: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        found: dict[str, list[RecordedEvent]] = {i: [] for i in request_ids}
        for event in self.log:
            if event.request_id in found and event.type == kind.event_type:
                found[event.request_id].append(event)
        return found

    def write_unclaimed(self, event: NewEvent) -> Appended:
        """Append `event` as it is (as a test's history of a claim)."""
        return self._append(event)

    def _append(self, event: NewEvent) -> Appended:
        position = len(self.log) + 1
        occurred = event.occurred
        self.log.append(
            RecordedEvent(
                position=position,
                event_id=event.event_id,
                type=event.type,
                stream_id=event.stream_id,
                stream_version=1,
                occurred_at=occurred.text if occurred else None,
                occurred_start=occurred.start if occurred else None,
                recorded_at=datetime.now(UTC),
                request_id=event.request_id,
                target_event_id=event.target_event_id,
                data=event.data,
            )
        )
        return Appended(event.event_id, position, 1)
