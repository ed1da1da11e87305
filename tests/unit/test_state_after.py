"""The state stored after each claim (`state_after`): written compactly, read back whole."""

from __future__ import annotations

from datetime import datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.claims import Claim
from services.domain.control import EMPTY, PlaceControl, apply_claim
from services.domain.occurred import parse_occurred
from services.domain.shares import to_hundredths
from services.store.control_rows import decode_state_after, encode_state_after
from tests.unit.test_control import ACTORS

WHEN = ["2017", "2017-03", "2017-03-04", "2017-03-04T05:06:07Z", "2018-01"]

history_strategy = st.lists(
    st.tuples(
        st.sampled_from(ACTORS),
        st.one_of(st.just(100.0), st.just(0.0), st.floats(0, 100).map(lambda x: round(x, 2))),
        st.one_of(st.none(), st.sampled_from(ACTORS)),
        st.sampled_from(WHEN),
        st.one_of(st.none(), st.sampled_from(["r1", "r2"])),
    ).filter(lambda t: t[0] != t[2]),
    min_size=1,
    max_size=20,
)


def fold_with_states(
    raw: list[tuple[str, float, str | None, str, str | None]],
) -> list[tuple[Claim, PlaceControl]]:
    """Each claim of a history (in order) with the state right after it, as the projector folds it."""
    claims = [
        Claim(f"e{i}", i, "abu-kamal", a, to_hundredths(s), parse_occurred(w), g, report_id=r)
        for i, (a, s, g, w, r) in enumerate(raw)
    ]
    state, folded = EMPTY, []
    for claim in sorted(claims, key=lambda c: c.order_key):
        state = apply_claim(state, claim)
        folded.append((claim, state))
    return folded


@settings(max_examples=300, deadline=None)
@given(history_strategy)
def test_every_state_reads_back_as_it_was_folded(
    raw: list[tuple[str, float, str | None, str, str | None]],
) -> None:
    for claim, state in fold_with_states(raw):
        stored = orjson.loads(orjson.dumps(encode_state_after(state, claim)))  # as the row holds it
        assert decode_state_after(stored, claim) == state


def test_what_the_row_says_is_left_out() -> None:
    [_, (second, _), (third, state)] = fold_with_states(
        [
            ("saa", 100.0, "is", "2017-11-08", "r1"),
            ("is", 40.0, "saa", "2017-11-10", "r2"),
            ("sdf", 10.0, "is", "2017-11-12", "r3"),
        ]
    )
    # The holdings the third claim set, the change and the order key are its own; only the
    # holding the second claim set is spelled out.
    assert encode_state_after(state, third) == [
        0,
        [["saa", 6000, "2017-11-10", second.event_id, "r2"], ["is", 3000], ["sdf", 1000]],
    ]


def test_a_claim_that_changes_nothing_keeps_the_earlier_change() -> None:
    [_, (second, state)] = fold_with_states(
        [("saa", 100.0, None, "2017-11-08", "r1"), ("saa", 100.0, None, "2017-11-09", "r2")]
    )
    assert encode_state_after(state, second)[0] == "2017-11-08"
    assert decode_state_after(encode_state_after(state, second), second) == state


def test_rows_written_in_the_first_format_are_still_read() -> None:
    [_, (second, state)] = fold_with_states(
        [("saa", 100.0, "is", "2017-11-08", "r1"), ("is", 40.0, "saa", "2017-11-10", "r2")]
    )
    spelled_out = {
        "h": [[h.actor_id, h.share, h.since.text, h.event_id, h.report_id] for h in state.holdings],
        "k": [datetime.isoformat(second.occurred.start), second.position],
        "e": second.event_id,
        "c": "2017-11-10",
        "n": 2,
    }
    assert decode_state_after(spelled_out, second) == state


def test_rows_written_in_the_second_format_are_still_read() -> None:
    """The second format led the array with a count of the claims folded, which no answer used."""
    [_, (second, state)] = fold_with_states(
        [("saa", 100.0, "is", "2017-11-08", "r1"), ("is", 40.0, "saa", "2017-11-10", "r2")]
    )
    counted = [2, *encode_state_after(state, second)]
    assert len(counted) == 3
    assert decode_state_after(counted, second) == state
