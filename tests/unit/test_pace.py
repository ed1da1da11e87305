"""The projectors' pace under a stream of reports (services.projector.pace): a token bucket of
BURST looks, one token back per linger."""

from __future__ import annotations

import pytest

from services.projector.pace import BURST, Pace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_after_a_quiet_spell_the_first_looks_go_at_once_then_one_per_linger(clock: Clock) -> None:
    pace = Pace(clock=clock)
    looks = []
    for _ in range(BURST + 3):  # rings back to back, each looked at when the pace says
        looks.append(pace.next_look(0.05))
        clock.now = looks[-1]
    assert looks[:BURST] == [100.0] * BURST
    gaps = [later - earlier for earlier, later in zip(looks[BURST - 1 : -1], looks[BURST:], strict=True)]
    assert gaps == pytest.approx([0.05] * 3)


def test_rings_slower_than_the_linger_are_never_held(clock: Clock) -> None:
    pace = Pace(clock=clock)
    for _ in range(10):
        assert pace.next_look(0.05) == clock.now
        clock.now += 0.06


def test_a_quiet_spell_gives_the_burst_back_and_no_more(clock: Clock) -> None:
    pace = Pace(clock=clock)
    for _ in range(5):
        clock.now = pace.next_look(0.05)
    clock.now += 10.0  # long enough for any number of tokens: the bucket holds BURST
    assert [pace.next_look(0.05) for _ in range(BURST)] == [clock.now] * BURST
    assert pace.next_look(0.05) == pytest.approx(clock.now + 0.05)


def test_without_a_linger_every_ring_is_looked_at_at_once(clock: Clock) -> None:
    pace = Pace(clock=clock)
    assert [pace.next_look(0.0) for _ in range(5)] == [clock.now] * 5
