"""The projection of one batch, with no I/O: through its `Loader` protocol, over a fake store
kept in memory (what the batch wrote is what the next batch loads)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.control import EMPTY, fold_place
from services.domain.events import (
    ACTOR_REGISTERED,
    PLACE_NAMES_CHANGED,
    PLACE_REGISTERED,
    RecordedEvent,
)
from services.domain.occurred import parse_occurred
from services.projector.batch import Batch, NothingStored, ProjectionError, project_batch
from services.store.control_rows import BatchChanges, ClaimRecord, Key, RefoldContext, StoredPlace
from services.store.event_log import NewEvent
from tests.support.events import claim_corrected, claim_retracted, control_changed


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


class FakeStore:
    """The read models in memory, behind the batch's `Loader` protocol; `write` keeps a batch's
    changes as the real store does, so that the next batch loads them."""

    def __init__(self, window: int = 2) -> None:
        self.places: dict[str, StoredPlace] = {}
        self.records: dict[str, ClaimRecord] = {}
        self.loaded_context: list[dict[str, Key]] = []
        self.window = window  # the stored claims after a bound handed out with the context
        self.read_after: list[tuple[str, Key]] = []  # the rest of a place's claims, asked for
        self.claims_read = 0  # stored claims handed out for re-folds
        # Set while the fold's claims are handed out: the store would be copying them then, and
        # its connection, in the middle of a COPY, would refuse any other statement
        # (runner.write_batch).
        self.copying = False

    def place_states(self, place_ids: Collection[str]) -> dict[str, StoredPlace]:
        self._readable()
        return {p: self.places[p] for p in place_ids if p in self.places}

    def claims(self, event_ids: Collection[str]) -> dict[str, ClaimRecord]:
        self._readable()
        # Copies, as rows read back would be: the batch changes what it loads.
        return {i: copy.deepcopy(self.records[i]) for i in event_ids if i in self.records}

    def _readable(self) -> None:
        assert not self.copying, "the batch read the store while its rows were being copied"

    def refold_context(self, spans: dict[str, tuple[Key, Key]]) -> RefoldContext:
        self._readable()
        self.loaded_context.append({place: start for place, (start, _) in spans.items()})
        context = RefoldContext()
        for place, (start, end) in spans.items():
            live = self._live(place)
            before = [r for r in live if r.claim.order_key < start]
            if before and before[-1].state_after is not None:
                context.priors[place] = (before[-1].claim.order_key, before[-1].state_after)
            through = [r for r in live if start <= r.claim.order_key <= end]
            beyond = [r for r in live if r.claim.order_key > end]
            context.tails[place] = self._handed(through + beyond[: self.window])
            if len(beyond) > self.window:
                context.more.add(place)
        return context

    def claims_after(self, place_id: str, key: Key) -> list[ClaimRecord]:
        self._readable()
        self.read_after.append((place_id, key))
        return self._handed([r for r in self._live(place_id) if r.claim.order_key > key])

    def _live(self, place: str) -> list[ClaimRecord]:
        return sorted(
            (r for r in self.records.values() if r.claim.place_id == place and not r.retracted),
            key=lambda r: r.claim.order_key,
        )

    def _handed(self, records: list[ClaimRecord]) -> list[ClaimRecord]:
        self.claims_read += len(records)
        return [copy.deepcopy(r) for r in records]

    def write(self, changes: BatchChanges) -> None:
        for record in changes.new_claims + changes.changed_claims + changes.restated:
            self.records[record.claim.event_id] = copy.deepcopy(record)
        self.places.update(changes.places)


class Log:
    """Events as the log would number them."""

    def __init__(self) -> None:
        self.position = 0

    def recorded(self, new: NewEvent) -> RecordedEvent:
        self.position += 1
        return RecordedEvent(
            position=self.position,
            event_id=new.event_id,
            type=new.type,
            stream_id=new.stream_id,
            stream_version=1,
            occurred_at=new.occurred.text if new.occurred else None,
            occurred_start=new.occurred.start if new.occurred else None,
            recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
            request_id=new.request_id,
            target_event_id=new.target_event_id,
            data=new.data,
        )


def project(store: FakeStore, log: Log, news: list[NewEvent]) -> BatchChanges:
    """One batch, folded as the runner does it: its new claims handed out as they fold."""
    batch = Batch(store)
    batch.feed([log.recorded(n) for n in news])
    handed_out = batch.fold()
    store.copying = True
    list(handed_out)
    store.copying = False
    changes = batch.changes()
    store.write(changes)
    return changes


def folded(store: FakeStore, place: str) -> Any:
    """What the contract's fold makes of the place's effective claims in the store."""
    return fold_place(
        r.claim for r in store.records.values() if r.claim.place_id == place and not r.retracted
    )


def claim(place: str, actor: str, share: float, when: str) -> NewEvent:
    return control_changed(place, actor, share, when)


def test_claims_in_order_fold_on_top_of_the_stored_state_without_reading_claims_back() -> None:
    store, log = FakeStore(), Log()
    project(store, log, [claim("p", "a", 100, "2017-01"), claim("p", "b", 40, "2017-02")])
    changes = project(store, log, [claim("p", "c", 100, "2017-03")])
    assert store.loaded_context == []
    assert changes.places["p"].state == folded(store, "p")
    assert changes.places["p"].updated_position == 3
    assert [r.state_after for r in changes.new_claims] == [changes.places["p"].state]


def test_claims_out_of_order_within_a_batch_fold_in_time_order() -> None:
    store, log = FakeStore(), Log()
    changes = project(store, log, [claim("p", "b", 100, "2017-03"), claim("p", "a", 100, "2017-01")])
    assert store.loaded_context == []  # nothing stored yet: nothing to read back
    assert changes.places["p"].state.holdings[0].actor_id == "b"
    assert changes.places["p"].state == folded(store, "p")
    by_actor = {r.claim.actor_id: r.state_after for r in changes.new_claims}
    assert by_actor["a"] is not None and by_actor["a"].holdings[0].actor_id == "a"


def test_a_late_claim_refolds_from_the_stored_claim_before_it_and_restates_those_after() -> None:
    store, log = FakeStore(), Log()
    first = project(store, log, [claim("p", "a", 100, "2017-01"), claim("p", "b", 50, "2017-03")])
    changes = project(store, log, [claim("p", "c", 30, "2017-02")])
    assert store.loaded_context == [{"p": (parse_occurred("2017-02").start, 3)}]
    assert changes.places["p"].state == folded(store, "p")
    later = first.new_claims[1].claim.event_id
    assert [r.claim.event_id for r in changes.restated] == [later]
    assert store.records[later].state_after == changes.places["p"].state


def test_a_correction_that_moves_a_claim_refolds_both_places() -> None:
    store, log = FakeStore(), Log()
    moved = claim("p", "a", 100, "2017-01")
    project(store, log, [moved, claim("q", "b", 100, "2017-01")])
    changes = project(store, log, [claim_corrected(moved, "p", place_id="q", occurred_at="2017-02")])
    assert [r.claim.event_id for r in changes.changed_claims] == [moved.event_id]
    assert changes.changed_claims[0].places == {"p", "q"}
    assert changes.changed_claims[0].original is not None
    assert changes.places["p"].state == EMPTY
    assert changes.places["q"].state == folded(store, "q")
    assert changes.places["q"].state.holdings[0].actor_id == "a"


def test_a_retraction_drops_the_claim_from_its_place() -> None:
    store, log = FakeStore(), Log()
    kept, withdrawn = claim("p", "a", 100, "2017-01"), claim("p", "b", 100, "2017-02")
    project(store, log, [kept, withdrawn])
    changes = project(store, log, [claim_retracted(withdrawn, "p")])
    assert changes.changed_claims[0].retracted and changes.changed_claims[0].state_after is None
    assert changes.places["p"].state == folded(store, "p")
    assert changes.places["p"].state.holdings[0].actor_id == "a"


def test_a_correction_of_a_claim_not_in_the_log_stops_the_projection_at_it() -> None:
    store, log = FakeStore(), Log()
    ghost = claim("p", "a", 100, "2017-01")
    with pytest.raises(ProjectionError) as stopped:
        project(store, log, [claim("p", "b", 100, "2017-01"), claim_corrected(ghost, "p", share=50)])
    assert stopped.value.position == 2


def test_how_the_log_is_cut_into_batches_changes_nothing() -> None:
    history = [
        claim("p", "a", 100, "2017-05"),
        claim("p", "b", 40, "2017-02"),
        claim("q", "a", 60, "2017-01"),
        claim("p", "c", 25, "2017-03"),
        claim("q", "b", 100, "2016-12"),
        claim("p", "a", 10, "2017-01"),
    ]
    history += [claim_corrected(history[1], "p", place_id="q"), claim_retracted(history[3], "p")]
    whole, cut = FakeStore(), FakeStore()
    project(whole, Log(), history)
    log = Log()
    for i in range(len(history)):
        project(cut, log, history[i : i + 1])
    assert whole.places == cut.places
    assert {i: r.state_after for i, r in whole.records.items()} == {
        i: r.state_after for i, r in cut.records.items()
    }
    assert whole.places["p"].state == folded(whole, "p") and whole.places["q"].state == folded(whole, "q")


def random_history(rnd: Any, length: int) -> list[NewEvent]:
    """Claims over three places and four years (so many arrive late), with corrections that move,
    re-date or re-share them and retractions, never of a claim already retracted."""
    history: list[NewEvent] = []
    live: list[NewEvent] = []
    for _ in range(length):
        roll = rnd.random()
        if live and roll < 0.15:
            target = rnd.choice(live)
            change = rnd.choice(
                [
                    {"share": rnd.choice([0, 30, 100])},
                    {"place_id": rnd.choice("pqr")},
                    {"occurred_at": f"{rnd.randint(2014, 2017)}-{rnd.randint(1, 12):02d}"},
                ]
            )
            history.append(claim_corrected(target, "p", **change))
        elif live and roll < 0.22:
            target = live.pop(rnd.randrange(len(live)))
            history.append(claim_retracted(target, "p"))
        else:
            when = f"{rnd.randint(2014, 2017)}-{rnd.randint(1, 12):02d}"
            new = claim(rnd.choice("pqr"), rnd.choice("abc"), rnd.choice([0, 25, 60, 100]), when)
            history.append(new)
            live.append(new)
    return history


def cut(rnd: Any, length: int) -> list[int]:
    """Random cut points 0 < i < length, sorted: where one batch (or chunk) ends and the next starts."""
    return sorted(rnd.sample(range(1, length), rnd.randint(0, min(6, length - 1)))) if length > 1 else []


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.randoms(use_true_random=False))
def test_one_batch_fed_in_chunks_writes_what_committed_batches_write(length: int, rnd: Any) -> None:
    """A rebuild feeds one batch the whole log in chunks; the live projector commits batch after
    batch, re-folding stored claims when a late one arrives. Both must give the same rows."""
    log = Log()
    recorded = [log.recorded(n) for n in random_history(rnd, length)]
    bounds = [0, *cut(rnd, length), length]
    live = FakeStore()
    for start, end in itertools.pairwise(bounds):
        live.write(project_batch(recorded[start:end], live))
    whole = Batch(NothingStored())
    chunks = [0, *cut(rnd, length), length]
    for start, end in itertools.pairwise(chunks):
        whole.feed(recorded[start:end])
    rebuilt = FakeStore()
    rebuilt.write(whole.changes())
    assert rebuilt.places == live.places
    assert rebuilt.records == live.records
    for place in rebuilt.places:
        assert rebuilt.places[place].state == folded(rebuilt, place)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.randoms(use_true_random=False))
def test_a_fold_hands_out_each_new_claim_once_its_state_is_final(length: int, rnd: Any) -> None:
    """What the projector writes while the places fold (`runner.write_batch`): every new claim,
    once, as it will stand after the whole batch, with nothing read in the meantime."""
    log = Log()
    recorded = [log.recorded(n) for n in random_history(rnd, length)]
    bounds = [0, *cut(rnd, length), length]
    streamed, whole = FakeStore(), FakeStore()
    for start, end in itertools.pairwise(bounds):
        batch = Batch(streamed)
        batch.feed(recorded[start:end])
        expected = project_batch(recorded[start:end], whole)  # folded in one go, from the same rows
        whole.write(expected)
        handed_out: list[ClaimRecord] = []
        if batch.new:
            folding = batch.fold()
            streamed.copying = True
            handed_out = [copy.deepcopy(r) for r in folding]  # as COPY takes each row: its state then
            streamed.copying = False
        changes = batch.changes()
        assert sorted(handed_out, key=lambda r: r.claim.position) == expected.new_claims
        assert changes == expected
        streamed.write(changes)
    assert streamed.records == whole.records and streamed.places == whole.places


def test_a_fold_read_only_in_part_gives_no_changes() -> None:
    log = Log()
    batch = Batch(NothingStored())
    batch.feed([log.recorded(claim("p", "a", 100, "2017-01")), log.recorded(claim("q", "b", 100, "2017-02"))])
    folding = batch.fold()
    next(folding)
    with pytest.raises(ValueError, match="not read to its end"):
        batch.changes()
    with pytest.raises(ValueError, match="folded already"):
        batch.fold()
    with pytest.raises(ValueError, match="once its fold has started"):
        batch.feed([log.recorded(claim("r", "c", 100, "2017-03"))])


def long_history(place: str, count: int) -> list[NewEvent]:
    """`count` claims of the place a month apart from 2015, each to the whole place, by turns."""
    return [claim(place, "ab"[i % 2], 100, f"{2015 + i // 12}-{1 + i % 12:02d}") for i in range(count)]


def states(store: FakeStore) -> dict[str, Any]:
    return {i: r.state_after for i, r in store.records.items()}


def in_one_batch(history: list[NewEvent]) -> FakeStore:
    store = FakeStore()
    project(store, Log(), history)
    return store


def test_a_late_claim_overtaken_by_a_later_one_restates_only_the_claims_before_it() -> None:
    store, log = FakeStore(window=4), Log()
    history = long_history("p", 40)
    project(store, log, history)
    before = store.places["p"].state
    late = claim("p", "c", 30, "2015-01-15")  # partial: the next claim, to the whole place, overtakes it
    changes = project(store, log, [late])
    assert changes.restated == []  # the claim after it comes out as it was stored
    partial = claim("p", "c", 30, "2015-01-10")
    changes = project(store, log, [partial])
    assert [r.claim.event_id for r in changes.restated] == [late.event_id]  # and only that one
    assert store.claims_read == 4 + 4 and store.read_after == []  # windows, not the other 36
    assert changes.places["p"].state == before == folded(store, "p")
    assert states(store) == states(in_one_batch([*history, late, partial]))


def test_a_late_claim_never_overtaken_reads_and_restates_the_rest() -> None:
    store, log = FakeStore(window=4), Log()
    # Partial claims that never take the whole place: the late claim's holding lasts to the end.
    history = [claim("p", "a", 10 + i % 3, f"{2015 + i // 12}-{1 + i % 12:02d}") for i in range(12)]
    project(store, log, history)
    late = claim("p", "b", 40, "2014-06")
    changes = project(store, log, [late])
    window_end = store.records[history[3].event_id].claim.order_key
    assert store.read_after == [("p", window_end)]  # the rest, after the window's last claim
    assert [r.claim.event_id for r in changes.restated] == [e.event_id for e in history]
    assert changes.places["p"].state == folded(store, "p")
    assert changes.places["p"].state.share_of("b") > 0
    assert states(store) == states(in_one_batch([*history, late]))


def test_a_claim_moved_back_in_time_is_not_overtaken_where_it_was() -> None:
    store, log = FakeStore(window=4), Log()
    history = long_history("p", 10)
    project(store, log, history)
    # The place's last claim re-dated before the others: a later claim overtakes it there, but
    # the place's state is no longer the one after it.
    moved = claim_corrected(history[-1], "p", occurred_at="2014-01")
    changes = project(store, log, [moved])
    assert changes.places["p"].state == folded(store, "p")
    assert changes.places["p"].state.last_event_id == history[-2].event_id
    assert states(store) == states(in_one_batch([*history, moved]))
