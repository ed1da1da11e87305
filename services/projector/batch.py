"""Projecting one batch of events onto the control read models, in memory.

The batch reads what it needs through a `Loader` (the place states it touches, the claims its
corrections name, and, for places that must be re-folded, the claims around the change) and returns
the rows to write. It does no I/O of its own and calls the domain's fold step for every state.

Every event only marks the places it changes, from the earliest point in time it changes them;
at the end of the batch each such place is folded once, in `occurred_at` order, from that point:
on top of its stored state when the point is after its last stored claim (the common case: new
claims arrive in order), else from the state right after the last stored claim before that point
(every claim row keeps the state after it), with the stored claims after it, until one past the
batch's latest change to the place comes out as it was stored (`Batch._refold_place`). Late claims
within a batch thus cost a sort, not a second fold; a late claim on a long history costs the
claims until it is overtaken.

A batch may also be fed in chunks before its changes are taken (`Batch.feed`, `Batch.changes`): a
rebuild feeds one batch the whole log, so that every place is folded once, from its first claim.

`Batch.fold` folds the places one by one and hands out each new claim as soon as its place is
folded: a writer can store those rows while the next places fold (`runner.write_batch`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from services.domain.claims import apply_changes, claim_from_event
from services.domain.control import EMPTY, PlaceControl, apply_claim, validate_claim
from services.domain.errors import DomainError
from services.domain.events import (
    ACTOR_REGISTERED,
    CLAIM_CORRECTED,
    CLAIM_RETRACTED,
    CONTROL_CHANGED,
    PLACE_NAMES_CHANGED,
    PLACE_REGISTERED,
    RecordedEvent,
)
from services.projector.events import changes_of, correction_entry, retraction_entry
from services.store.control_rows import (
    BatchChanges,
    ClaimRecord,
    Key,
    RefoldContext,
    StoredPlace,
    claim_fields,
)


class ProjectionError(Exception):
    """An event the projection cannot apply: the projection stops at it instead of skipping it."""

    def __init__(self, event: RecordedEvent, reason: str) -> None:
        super().__init__(f"event {event.event_id} at position {event.position}: {reason}")
        self.position = event.position
        self.event_id = event.event_id


class Loader(Protocol):
    def place_states(self, place_ids: Collection[str]) -> dict[str, StoredPlace]:
        """The stored state of those places that have one."""
        ...

    def claims(self, event_ids: Collection[str]) -> dict[str, ClaimRecord]:
        """The stored claim records with these event ids."""
        ...

    def refold_context(self, spans: dict[str, tuple[Key, Key]]) -> RefoldContext:
        """Per place: the last unretracted stored claim before its span (key and state after),
        and the unretracted stored claims from the span's start on, in order: every one through
        its end and the first few after it, the places that have more named in `more` (see
        RefoldContext)."""
        ...

    def claims_after(self, place_id: str, key: Key) -> list[ClaimRecord]:
        """Every unretracted stored claim of the place after `key`, in order."""
        ...


class NothingStored:
    """The Loader of read models still empty: a rebuild's, which has every claim it folds in memory."""

    def place_states(self, place_ids: Collection[str]) -> dict[str, StoredPlace]:
        return {}

    def claims(self, event_ids: Collection[str]) -> dict[str, ClaimRecord]:
        return {}

    def refold_context(self, spans: dict[str, tuple[Key, Key]]) -> RefoldContext:
        return RefoldContext()

    def claims_after(self, place_id: str, key: Key) -> list[ClaimRecord]:
        return []


def project_batch(events: list[RecordedEvent], loader: Loader) -> BatchChanges:
    """The read-model changes `events` (consecutive, in position order) make, folded in one go (the
    projector writes as it folds instead: `runner.write_batch`)."""
    batch = Batch(loader)
    batch.feed(events)
    return batch.changes()


class Batch:
    """Consecutive events folded onto what `loader` reads: fed in one or more chunks, in position
    order; `fold` then folds every place they marked, once, handing out the new claims as their
    places are folded, and `changes` returns the rows to write (folding first if `fold` was not
    called)."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.last: RecordedEvent | None = None
        self.records: dict[str, ClaimRecord] = {}
        self.new: dict[str, None] = {}
        self.changed: dict[str, None] = {}
        self.restated: dict[str, None] = {}
        self.states: dict[str, PlaceControl] = {}
        self.updated: dict[str, int] = {}
        self.bounds: dict[str, Key] = {}  # per place, the earliest point in time the batch changes
        self.reach: dict[str, Key] = {}  # and the latest
        self.loaded_places: set[str] = set()  # whose stored state has been asked for
        self.fold_started = False
        self.folded = False  # every place the events marked is folded

    def feed(self, events: list[RecordedEvent]) -> None:
        """Apply the next events (after those fed before) to the records and marks, folding nothing yet."""
        if self.fold_started:
            raise ValueError("a batch takes no events once its fold has started")
        if not events:
            return
        self._preload(events)
        for event in events:
            try:
                self._apply(event)
            except (DomainError, KeyError, TypeError, ValueError) as exc:
                raise ProjectionError(event, f"{type(exc).__name__}: {exc}") from exc
        self.last = events[-1]

    def fold(self) -> Iterator[ClaimRecord]:
        """Fold every place the events fed changed, once (after `feed`): the stored claims that
        this needs are loaded now, and the places are folded as the iterator returned is read
        (no loader is asked anything then: the connection may be busy copying the claims handed
        out). It yields each new claim record once its state is final: a retracted one first (it
        has none), any other as soon as its place is folded."""
        if self.last is None:
            raise ValueError("a batch of no events has no changes")
        if self.fold_started:
            raise ValueError("the batch is folded already")
        self.fold_started = True
        # Only a bound at or before a place's last stored claim has stored claims after it.
        stored = {p: k for p, k in self.bounds.items() if _at_or_before(k, self.states.get(p, EMPTY))}
        spans = {place: (start, self.reach[place]) for place, start in stored.items()}
        context = self.loader.refold_context(spans) if stored else RefoldContext()
        in_memory = _by_place(self.records.values())
        # A place whose stored claims were read only in part may need the rest: folded now.
        with self._stopping_at(self.last):
            for place in context.more:
                records = in_memory.get(place, [])
                self.states[place] = self._refold_place(place, stored[place], context, records)
        return self._folding(stored, context, in_memory, self.last)

    def _folding(
        self,
        stored: dict[str, Key],
        context: RefoldContext,
        in_memory: dict[str, list[ClaimRecord]],
        last: RecordedEvent,
    ) -> Iterator[ClaimRecord]:
        yield from (self.records[i] for i in self.new if self.records[i].retracted)
        with self._stopping_at(last):
            yield from self._fold(stored, context, in_memory)
        self.folded = True

    @staticmethod
    @contextmanager
    def _stopping_at(last: RecordedEvent) -> Iterator[None]:
        """A fold the algebra refuses stops the projection at the batch's last event."""
        try:
            yield
        except DomainError as exc:
            raise ProjectionError(last, f"folding failed: {exc}") from exc

    def changes(self) -> BatchChanges:
        """The rows the events fed change (folding them first, unless `fold` was called)."""
        if not self.fold_started:
            for _ in self.fold():
                pass
        if not self.folded or self.last is None:
            raise ValueError("the batch's fold was not read to its end")
        return BatchChanges(
            position=self.last.position,
            new_claims=[self.records[i] for i in self.new],
            changed_claims=[self.records[i] for i in self.changed],
            restated=[self.records[i] for i in self.restated if i not in self.changed],
            places={p: StoredPlace(self.states.get(p, EMPTY), pos) for p, pos in self.updated.items()},
        )

    def _preload(self, events: list[RecordedEvent]) -> None:
        """Load the stored claims these events name and the stored states of the places they
        touch, but for what an earlier chunk loaded (or recorded) already."""
        in_batch = {e.event_id for e in events if e.type == CONTROL_CHANGED}
        targets = {e.target_event_id for e in events if e.target_event_id} - in_batch
        loaded = self.loader.claims({t for t in targets if t and t not in self.records})
        self.records.update(loaded)
        places = {r.claim.place_id for r in loaded.values()}
        for event in events:
            if event.type == CONTROL_CHANGED:
                places.add(event.data["place_id"])
            elif event.type == CLAIM_CORRECTED and "place_id" in event.data["changes"]:
                places.add(event.data["changes"]["place_id"])
            elif event.type in (PLACE_NAMES_CHANGED, PLACE_REGISTERED):
                places.add(event.stream_id)
        places.difference_update(self.loaded_places)
        self.loaded_places.update(places)
        self.states.update((p, s.state) for p, s in self.loader.place_states(places).items())

    def _apply(self, event: RecordedEvent) -> None:
        if event.type == CONTROL_CHANGED:
            self._claim(event)
        elif event.type == CLAIM_CORRECTED:
            self._correct(self._target(event), event)
        elif event.type == CLAIM_RETRACTED:
            self._retract(self._target(event), event)
        elif event.type in (PLACE_NAMES_CHANGED, PLACE_REGISTERED):
            self._touched(event)
        elif event.type == ACTOR_REGISTERED:
            pass  # nothing to fold: the checkpoint passing it moves the read models' version
        else:
            raise ValueError(f"unknown event type {event.type}")

    def _target(self, event: RecordedEvent) -> ClaimRecord:
        record = self.records.get(event.target_event_id or "")
        if record is None:
            raise ValueError(f"it names claim {event.target_event_id}, which is not in the log before it")
        if record.retracted:
            raise ValueError(f"claim {event.target_event_id} was retracted before")
        return record

    def _claim(self, event: RecordedEvent) -> None:
        record = ClaimRecord(claim_from_event(event), event.recorded_at)
        validate_claim(record.claim)
        self.records[event.event_id] = record
        self.new[event.event_id] = None
        self._mark(record.claim.place_id, record.claim.order_key, event.position)

    def _correct(self, record: ClaimRecord, event: RecordedEvent) -> None:
        before = record.claim
        after = apply_changes(before, changes_of(event))
        validate_claim(after)
        if record.original is None:
            record.original = claim_fields(before)
        record.claim = after
        record.corrections.append(correction_entry(event))
        record.places.update({before.place_id, after.place_id})
        self._mark_changed(record)
        self._mark(before.place_id, before.order_key, event.position)
        self._mark(after.place_id, after.order_key, event.position)

    def _retract(self, record: ClaimRecord, event: RecordedEvent) -> None:
        record.retraction = retraction_entry(event)
        record.state_after = None
        self._mark_changed(record)
        self._mark(record.claim.place_id, record.claim.order_key, event.position)

    def _touched(self, event: RecordedEvent) -> None:
        # A registration or a rename: control is unchanged, but the place is listed as changed at
        # this position (written with its state, EMPTY when it has none yet), so the change feed
        # names it: /v1/changes pollers, the stream and cached answers see the new place or name.
        # (The names themselves are read from the registry and the log.)
        self.updated[event.stream_id] = event.position

    def _mark(self, place: str, key: Key, position: int) -> None:
        self.updated[place] = position
        self.bounds[place] = min(self.bounds.get(place, key), key)
        self.reach[place] = max(self.reach.get(place, key), key)

    def _mark_changed(self, record: ClaimRecord) -> None:
        if record.claim.event_id not in self.new:
            self.changed[record.claim.event_id] = None

    def _fold(
        self, stored: dict[str, Key], context: RefoldContext, in_memory: dict[str, list[ClaimRecord]]
    ) -> Iterator[ClaimRecord]:
        """Fold every place the batch changed, once, from its bound (from the stored claims in
        `context` for those in `stored`; those in its `more` are folded already); yield each
        unretracted new claim once its place is folded."""
        for place, bound in self.bounds.items():
            records = in_memory.get(place, [])
            if place not in stored:
                self.states[place] = self._fold_place(self._stored(place), bound, records)
            elif place not in context.more:
                self.states[place] = self._refold_place(place, bound, context, records)
            yield from (r for r in records if r.claim.event_id in self.new)

    def _stored(self, place: str) -> tuple[Key | None, PlaceControl]:
        state = self.states.get(place, EMPTY)
        return state.last_key, state

    def _fold_place(
        self, start: tuple[Key | None, PlaceControl], bound: Key, records: list[ClaimRecord]
    ) -> PlaceControl:
        """Fold the batch's claims of a place from its bound on top of `start`, a state before it."""
        state, own = self._own_claims(start, bound, records)
        for record in own:
            state, _ = self._step(state, record)
        return state

    def _refold_place(
        self, place: str, bound: Key, context: RefoldContext, records: list[ClaimRecord]
    ) -> PlaceControl:
        """Fold a place again from its bound, which lies before its last stored claim: the batch's
        claims and the stored claims from the bound on, in order, from the state before the bound.

        Once past the latest point in time the batch changes the place at (where a claim comes,
        goes, or changes), a stored claim whose state comes out as stored ends the fold: every
        state after it is as stored too (the fold of a claim depends on the state before it
        alone), and so is the place's. A late claim is thus overtaken, most often within a few
        claims (a claim to the whole place resets the holdings), and costs those, not the place's
        whole later history. The stored claims are read through that latest point and a window
        beyond (`context`); the rest, for a place in its `more`, only when the fold gets past the
        window (`fold` folds those places before any claim is handed out).
        """
        state, own = self._own_claims(context.priors.get(place, (None, EMPTY)), bound, records)
        window = context.tails.get(place, [])
        # The batch's own claims all lie before the window's end: they fold with the window.
        state, stopped = self._fold_until_as_stored(state, self._tail(window) + own, self.reach[place])
        if not stopped and place in context.more:
            rest = self._tail(self.loader.claims_after(place, window[-1].claim.order_key))
            state, stopped = self._fold_until_as_stored(state, rest, self.reach[place])
        return self.states[place] if stopped else state

    def _fold_until_as_stored(
        self, state: PlaceControl, records: list[ClaimRecord], reach: Key
    ) -> tuple[PlaceControl, bool]:
        """Fold `records` in order on top of `state` until a claim after `reach` comes out as it
        was stored: the state then, and whether that happened."""
        for record in sorted(records, key=lambda r: r.claim.order_key):
            state, as_stored = self._step(state, record)
            if as_stored and record.claim.order_key > reach:
                return state, True
        return state, False

    def _own_claims(
        self, start: tuple[Key | None, PlaceControl], bound: Key, records: list[ClaimRecord]
    ) -> tuple[PlaceControl, list[ClaimRecord]]:
        """The state to fold from (`start`, or the state after a claim of the batch that comes
        later but still before the bound) and the batch's claims from the bound on, in order."""
        prior_key, state = start
        own = []
        for record in records:
            key = record.claim.order_key
            if key >= bound:
                own.append(record)
            elif record.state_after is not None and (prior_key is None or key > prior_key):
                prior_key, state = key, record.state_after
        own.sort(key=lambda r: r.claim.order_key)
        return state, own

    def _tail(self, stored: list[ClaimRecord]) -> list[ClaimRecord]:
        """The stored claims to fold again; one this batch changed is judged by its changed self."""
        tail = []
        for record in stored:
            if record.claim.event_id not in self.records:
                self.records[record.claim.event_id] = record
                tail.append(record)
        return tail

    def _step(self, state: PlaceControl, record: ClaimRecord) -> tuple[PlaceControl, bool]:
        """The state after `record`'s claim, kept on the record (a stored claim whose state
        changes is restated), and whether it is the state the record already had."""
        after = apply_claim(state, record.claim)
        if record.state_after == after:
            return after, True
        record.state_after = after
        if record.claim.event_id not in self.new:
            self.restated[record.claim.event_id] = None
        return after, False


def _at_or_before(bound: Key, state: PlaceControl) -> bool:
    return state.last_key is not None and bound <= state.last_key


def _by_place(records: Iterable[ClaimRecord]) -> dict[str, list[ClaimRecord]]:
    grouped: dict[str, list[ClaimRecord]] = defaultdict(list)
    for record in records:
        if not record.retracted:
            grouped[record.claim.place_id].append(record)
    return grouped
