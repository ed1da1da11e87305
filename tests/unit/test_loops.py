"""The one background loop: ticks on its interval, at once when woken, and stops cleanly."""

import threading
import time

from services.loops import Loop


class Counting(Loop):
    def __init__(self, interval: float, wake: threading.Event | None = None) -> None:
        super().__init__("counting", interval, wake=wake, stop_timeout=5)
        self.ticks = 0
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        self.ticked.set()


def test_it_ticks_once_per_interval_when_nobody_wakes_it() -> None:
    loop = Counting(interval=0.05)
    loop.start()
    time.sleep(0.3)
    loop.stop()
    assert 2 <= loop.ticks <= 7
    assert not loop.running


def test_a_wake_starts_the_next_tick_without_waiting_for_the_interval() -> None:
    loop = Counting(interval=60)
    loop.start()
    loop.wake()
    assert loop.ticked.wait(5), "a woken loop did not tick"
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 5, "stop waited for the interval"
    assert loop.ticks == 1


def test_an_outside_event_wakes_it_like_a_doorbell() -> None:
    doorbell = threading.Event()
    loop = Counting(interval=60, wake=doorbell)
    loop.start()
    doorbell.set()
    assert loop.ticked.wait(5)
    loop.stop()


def test_stopped_before_its_first_interval_it_never_ticks() -> None:
    loop = Counting(interval=60)
    loop.start()
    loop.stop()
    assert loop.ticks == 0 and not loop.running


class Draining(Loop):
    """A loop with no interval whose tick blocks on its input and ends the loop itself."""

    def __init__(self, items: list[int | None]) -> None:
        super().__init__("draining", interval=0, stop_timeout=5)
        self.items = items
        self.seen: list[int] = []

    def tick(self) -> None:
        item = self.items.pop(0)
        if item is None:
            self.finish()
        else:
            self.seen.append(item)


def test_a_loop_without_interval_runs_until_a_tick_finishes_it() -> None:
    loop = Draining([1, 2, 3, None, 4])
    loop.start()
    loop.join()
    assert loop.seen == [1, 2, 3] and not loop.running
