"""Client request ids: the one rule every idempotent write follows (reports, corrections,
retractions).

A request carries an id and the hash of its body (`body_hash`). Against the hashes stored for its
kind it is:
- NEW: the id is not stored (or the request has none): record it;
- REPLAY: stored with the same hash: answer as the first time, from the events it wrote then;
- CONFLICT: stored with another hash: refuse it (409), nothing written;
- DEFERRED: new, but the same id came earlier in the same batch: record it in a later batch,
  where it is a replay or a conflict of the first.

The verdicts are pure (`verdict`, `verdicts`); the store is met through a `Ledger` at three edges:
the hashes stored, the write that claims the ids and appends their events in one call, and the
events a replay is answered from. Two writers racing with one id both decide NEW: the claim lets
one through, and the other decides again on the hash the winner stored (`lost`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import orjson
import sqlalchemy as sa
from pydantic import BaseModel

from services.domain.events import CLAIM_CORRECTED, CLAIM_RETRACTED, CONTROL_CHANGED, RecordedEvent
from services.store import event_log, requests
from services.store.event_log import Appended, NewEvent


@dataclass(frozen=True)
class Kind:
    """A kind of idempotent request: its ids are unique within it, and what it appends."""

    name: str  # `requests.kind`, and the word of an IdConflict ("report id ... was already used")
    event_type: str  # the events a replay is answered from


REPORT = Kind("report", CONTROL_CHANGED)
CORRECTION = Kind("correction", CLAIM_CORRECTED)
RETRACTION = Kind("retraction", CLAIM_RETRACTED)


class Verdict(Enum):
    NEW = "new"
    REPLAY = "replay"
    CONFLICT = "conflict"
    DEFERRED = "deferred"


def body_hash(body: BaseModel) -> str:
    """A hash of the request's meaning: key order and whitespace do not change it."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def verdict(request_id: str | None, digest: str, stored: Mapping[str, str]) -> Verdict:
    """One request against the hashes stored for its kind."""
    if request_id is None or request_id not in stored:
        return Verdict.NEW
    return Verdict.REPLAY if stored[request_id] == digest else Verdict.CONFLICT


def verdicts(batch: Sequence[tuple[str, str]], stored: Mapping[str, str]) -> list[Verdict]:
    """Each (request id, hash) of a batch, in order: a new id given twice is DEFERRED the second time."""
    seen: set[str] = set()
    out = []
    for request_id, digest in batch:
        found = verdict(request_id, digest, stored)
        if found is Verdict.NEW and request_id in seen:
            found = Verdict.DEFERRED
        seen.add(request_id)
        out.append(found)
    return out


def lost(request_id: str, digest: str, stored: Mapping[str, str]) -> Verdict:
    """The verdict on a request whose id another writer claimed first: a replay of it, or a conflict."""
    found = verdict(request_id, digest, stored)
    if found is Verdict.NEW:
        raise RuntimeError(f"request id {request_id!r} was neither claimed nor found stored")
    return found


@dataclass(frozen=True)
class Written:
    """What a write did: the ids claimed now, and the appended events by event id."""

    claimed: frozenset[str]
    appended: Mapping[str, Appended]


class Ledger(Protocol):
    """The store as idempotent writes meet it (a fake one in the unit tests)."""

    def stored_hashes(self, kind: Kind, request_ids: Sequence[str]) -> dict[str, str]:
        """The hashes stored for those of `request_ids` that are stored."""
        ...

    def write(self, kind: Kind, digests: Mapping[str, str], new_events: Sequence[NewEvent]) -> Written:
        """Claim the ids of `digests`; append the events of those claimed now (and of none: see
        StoreLedger.write)."""
        ...

    def recorded(self, kind: Kind, request_ids: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        """The events each request id wrote, in log order: what a replay is answered from."""
        ...


@dataclass(frozen=True)
class StoreLedger:
    """The Ledger of the caller's transaction."""

    conn: sa.Connection

    def stored_hashes(self, kind: Kind, request_ids: Sequence[str]) -> dict[str, str]:
        return requests.stored_hashes(self.conn, kind.name, list(request_ids))

    def write(self, kind: Kind, digests: Mapping[str, str], new_events: Sequence[NewEvent]) -> Written:
        """One statement on PostgreSQL. With no ids to claim (a correction sent without one),
        `new_events` are appended as they are."""
        if digests:
            claimed, appended = event_log.claim_and_append(self.conn, kind.name, dict(digests), new_events)
        else:
            claimed, appended = set(), event_log.append(self.conn, new_events)
        return Written(frozenset(claimed), {a.event_id: a for a in appended})

    def recorded(self, kind: Kind, request_ids: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        by_request: dict[str, list[RecordedEvent]] = defaultdict(list)
        for event in event_log.read_requests(self.conn, list(request_ids), kind.event_type):
            by_request[event.request_id or ""].append(event)
        return by_request
