"""The version watch: waits end at an advance or at their time limit, and leave nothing behind."""

from __future__ import annotations

import asyncio

from services.api.position import PositionWatch, Version


def test_timed_out_waits_leave_no_waiter_behind() -> None:
    watch = PositionWatch()
    watch.advance(Version(1, 5))

    async def wait_in_vain() -> None:
        await asyncio.gather(
            *(watch.wait_for(6, 0.01) for _ in range(50)),
            *(watch.wait_changed(Version(1, 5), 0.01) for _ in range(50)),
        )

    asyncio.run(wait_in_vain())
    assert not watch._waiters


def test_an_advance_ends_the_waits_it_satisfies() -> None:
    watch = PositionWatch()
    watch.advance(Version(1, 5))

    async def advance_later() -> tuple[bool, Version]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, watch.advance, Version(1, 7))
        return await asyncio.gather(watch.wait_for(6, 5), watch.wait_changed(Version(1, 5), 5))  # type: ignore[return-value]

    reached, changed = asyncio.run(advance_later())
    assert reached is True and changed == Version(1, 7)
    assert not watch._waiters


def test_a_wait_cancelled_as_the_version_advances_is_cancelled() -> None:
    # The change feed's task waits here; a stop cancels it, and may do so in the same turn of the
    # loop as an advance wakes it. The cancellation must win, or the task runs on after its stop.
    watch = PositionWatch()

    async def main() -> list[bool]:
        outcomes = []
        for position in range(1, 21):
            waiting = asyncio.create_task(watch.wait_changed(watch.version, timeout=10))
            await asyncio.sleep(0)  # it waits now
            watch.advance(Version(0, position))  # wakes it (call_soon_threadsafe)
            await asyncio.sleep(0)
            waiting.cancel()
            await asyncio.wait([waiting], timeout=5)
            outcomes.append(waiting.cancelled())
        return outcomes

    assert all(asyncio.run(main()))
