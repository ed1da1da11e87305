from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.claims import Claim
from services.domain.control import EMPTY, Holding, PlaceControl, apply_claim, fold_place
from services.domain.errors import InvalidClaim
from services.domain.occurred import parse_occurred
from services.domain.shares import proportional_part, to_hundredths
from tests.support import plain_fold, reference

ACTORS = ["saa", "is", "sdf", "isf"]


def claim(n: int, actor: str, share: float, when: str, giver: str | None = None) -> Claim:
    return Claim(f"e{n}", n, "abu-kamal", actor, to_hundredths(share), parse_occurred(when), giver)


def shares(state: object) -> dict[str, float]:
    return {h.actor_id: h.share / 100 for h in state.holdings}  # type: ignore[attr-defined]


def test_the_seed_example() -> None:
    taken = fold_place([claim(1, "saa", 100, "2017-11-08", "is")])
    assert taken.status == "controlled"
    assert shares(taken) == {"saa": 100}
    split = apply_claim(taken, claim(2, "is", 40, "2017-11-10", "saa"))
    assert split.status == "contested"
    assert shares(split) == {"saa": 60, "is": 40}
    assert split.challenger_share == 4000
    assert [h.since.text for h in split.holdings] == ["2017-11-10", "2017-11-10"]


def test_a_rise_takes_from_the_giver_then_the_rest_then_the_others_in_proportion() -> None:
    state = fold_place([claim(1, "saa", 50, "2017-01"), claim(2, "sdf", 30, "2017-02")])
    assert state.status == "contested"
    # IS rises to 60 "from SAA": SAA's 50 first, then 10 of the unattributed 20; SDF keeps 30.
    state = apply_claim(state, claim(3, "is", 60, "2017-03", "saa"))
    assert shares(state) == {"is": 60, "sdf": 30}  # 50 from SAA, 10 from the unattributed 20


def test_proportional_take_and_rounding_keep_the_sum_at_most_100() -> None:
    state = fold_place([claim(1, "saa", 33.33, "2017-01"), claim(2, "sdf", 33.33, "2017-02")])
    state = apply_claim(state, claim(3, "is", 33.33, "2017-03"))
    state = apply_claim(state, claim(4, "isf", 50, "2017-04"))
    assert sum(h.share for h in state.holdings) <= 10_000
    assert state.share_of("isf") == 5000


def test_a_fall_goes_to_the_giver_or_becomes_unattributed() -> None:
    state = fold_place([claim(1, "saa", 100, "2017-01")])
    to_giver = apply_claim(state, claim(2, "saa", 70, "2017-02", "is"))
    assert shares(to_giver) == {"saa": 70, "is": 30}
    unattributed = apply_claim(state, claim(2, "saa", 70, "2017-02"))
    assert shares(unattributed) == {"saa": 70}
    assert unattributed.status == "partial"


def test_driven_out_drops_the_holder() -> None:
    state = fold_place([claim(1, "is", 100, "2017-01"), claim(2, "is", 0, "2017-02")])
    assert state.status == "unknown"
    assert state.holdings == ()


def test_since_moves_only_for_holders_whose_share_changed() -> None:
    state = fold_place([claim(1, "saa", 60, "2017-01"), claim(2, "is", 20, "2017-02")])
    state = apply_claim(state, claim(3, "is", 40, "2017-03"))  # from the unattributed 20
    since = {h.actor_id: h.since.text for h in state.holdings}
    assert since == {"saa": "2017-01", "is": "2017-03"}


def test_late_reports_slot_into_the_past() -> None:
    late = [claim(2, "is", 40, "2017-11-10", "saa"), claim(1, "saa", 100, "2017-11-08")]
    assert shares(fold_place(late)) == {"saa": 60, "is": 40}


def test_events_in_the_same_instant_apply_in_log_order() -> None:
    same = [claim(2, "is", 100, "2017-11-08"), claim(1, "saa", 100, "2017-11-08")]
    assert shares(fold_place(same)) == {"is": 100}


@pytest.mark.parametrize(
    "bad",
    [
        claim(1, "saa", 50, "2017", "saa"),
        Claim("e", 1, "p", "saa", 10_001, parse_occurred("2017")),
        Claim("e", 1, "p", "saa", 100, parse_occurred("2017"), supporting_actor_ids=("saa",)),
    ],
)
def test_the_fold_rejects_claims_it_cannot_apply(bad: Claim) -> None:
    with pytest.raises(InvalidClaim):
        apply_claim(EMPTY, bad)


claims_strategy = st.lists(
    st.tuples(
        st.sampled_from(ACTORS),
        st.one_of(st.just(100.0), st.just(0.0), st.floats(0, 100).map(lambda x: round(x, 2))),
        st.one_of(st.none(), st.sampled_from(ACTORS)),
        st.sampled_from(["2017", "2017-03", "2017-03-04", "2017-03-04T05:06:07Z", "2018-01"]),
    ).filter(lambda t: t[0] != t[2]),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(claims_strategy, st.randoms(use_true_random=False))
def test_fold_equals_the_contracts_algebra_whatever_the_arrival_order(
    raw: list[tuple[str, float, str | None, str]], rnd: object
) -> None:
    history = [claim(i + 1, a, s, w, g) for i, (a, s, g, w) in enumerate(raw)]
    shuffled = list(history)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    folded = fold_place(shuffled)

    expected: dict[str, Decimal] = {}
    for c in sorted(history, key=lambda c: c.order_key):
        expected = reference.apply(expected, c.actor_id, Decimal(c.share) / 100, c.from_actor_id)
    assert {h.actor_id: Decimal(h.share) / 100 for h in folded.holdings} == expected
    assert sum(h.share for h in folded.holdings) <= 10_000
    assert all(h.share > 0 for h in folded.holdings)
    holders = len(folded.holdings)
    expected_status = (
        "unknown"
        if holders == 0
        else "contested"
        if holders > 1
        else "controlled"
        if folded.holdings[0].share == 10_000
        else "partial"
    )
    assert folded.status == expected_status


# The fast fold step against its plain statement (tests/support/plain_fold.py): the same state,
# field for field (each holding's since, event and report included), after every claim of random
# histories, from the empty state and from random stored states (as a batch starts from one).
holdings_strategy = st.dictionaries(
    st.sampled_from(ACTORS), st.integers(1, 10_000), max_size=len(ACTORS)
).filter(lambda h: sum(h.values()) <= 10_000)


def stored_state(shares: dict[str, int]) -> PlaceControl:
    ranked = sorted(shares.items(), key=lambda item: (-item[1], item[0]))
    holdings = tuple(Holding(a, s, parse_occurred("2016"), f"s-{a}", f"r-{a}") for a, s in ranked)
    return PlaceControl(holdings, None, None, parse_occurred("2016") if holdings else None)


@settings(max_examples=500, deadline=None)
@given(holdings_strategy, claims_strategy)
def test_the_fast_fold_step_equals_its_plain_statement(
    start: dict[str, int], raw: list[tuple[str, float, str | None, str]]
) -> None:
    fast = plain = stored_state(start)
    for i, (a, s, g, w) in enumerate(raw):
        c = claim(i + 1, a, s, w, g)._replace(report_id=f"r{i % 3}")
        fast, plain = apply_claim(fast, c), plain_fold.apply_claim(plain, c)
        assert fast == plain
        assert [tuple(h) for h in fast.holdings] == [tuple(h) for h in plain.holdings]
        assert fast.changed_at == plain.changed_at


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 10_000))
def test_a_proportional_part_rounds_half_up_as_decimal_does(amount: int, part: int, whole: int) -> None:
    exact = (Decimal(amount) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert proportional_part(amount, part, whole) == int(exact)


@pytest.mark.parametrize(
    ("amount", "part", "whole", "expected"), [(1, 1, 2, 1), (3, 1, 2, 2), (1, 1, 3, 0), (2, 1, 3, 1)]
)
def test_a_proportional_part_at_and_beside_a_half(amount: int, part: int, whole: int, expected: int) -> None:
    assert proportional_part(amount, part, whole) == expected
