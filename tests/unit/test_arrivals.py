"""How long the report writer waits for the next report, by how closely reports have been coming."""

from __future__ import annotations

import pytest

from services.ingest.arrivals import Arrivals

LINGER = 0.01


def arrivals_at(*times: float) -> Arrivals:
    arrivals = Arrivals()
    for t in times:
        arrivals.note(t)
    return arrivals


def test_a_first_report_is_written_at_once() -> None:
    assert Arrivals().wait_for_next(LINGER) == 0.0
    assert arrivals_at(5.0).wait_for_next(LINGER) == 0.0


def test_reports_4_ms_apart_wait_twice_that_for_the_next() -> None:
    arrivals = arrivals_at(*(i * 0.004 for i in range(20)))
    assert arrivals.wait_for_next(LINGER) == pytest.approx(0.008)


def test_reports_50_ms_apart_are_written_at_once() -> None:
    assert arrivals_at(*(i * 0.05 for i in range(20))).wait_for_next(LINGER) == 0.0


def test_reports_that_came_together_wait_next_to_nothing() -> None:
    """Clients that each wait for their answer send together: no other report follows soon."""
    wait = arrivals_at(*(1.0 + i * 0.00005 for i in range(16))).wait_for_next(LINGER)
    assert 0 < wait == pytest.approx(0.0001)


def test_a_change_of_pace_is_followed_within_a_few_reports() -> None:
    arrivals = arrivals_at(*(i * 0.004 for i in range(20)))
    assert arrivals.wait_for_next(LINGER) > 0
    for t in (0.18, 0.28, 0.38, 0.48, 0.58):  # the feeds slow down to 10 a second
        arrivals.note(t)
    assert arrivals.wait_for_next(LINGER) == 0.0


def test_no_linger_never_waits() -> None:
    assert arrivals_at(*(i * 0.001 for i in range(20))).wait_for_next(0.0) == 0.0
