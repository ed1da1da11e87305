"""The garbage collector's settings: each kind of process's, and a block's ending with it."""

from __future__ import annotations

import gc

import pytest

from services import collector


def test_collecting_rarely_raises_the_young_threshold_for_the_block_only() -> None:
    before = gc.get_threshold()
    with collector.collecting_rarely():
        assert gc.get_threshold()[0] == collector.SERVED_YOUNG_THRESHOLD
    assert gc.get_threshold() == before


def test_paused_holds_the_collector_off_and_gives_it_back_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.paused():
        assert not gc.isenabled()
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_paused_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
