"""A stream subscriber too slow to keep up is cut off after what it was sent, never with a gap."""

from __future__ import annotations

import asyncio
from typing import Any

from services.api import stream
from services.api.cache import ReadCache
from services.api.position import PositionWatch


def place(place_id: str) -> dict[str, Any]:
    return {"place_id": place_id, "country": "IQ", "status": "controlled", "control": []}


def test_a_subscriber_that_falls_behind_gets_nothing_past_its_last_change(monkeypatch: Any) -> None:
    monkeypatch.setattr(stream, "QUEUE_LIMIT", 3)

    async def run() -> list[int]:
        broadcast = stream.ChangeBroadcast(runtime=None, watch=PositionWatch(), cache=ReadCache())  # type: ignore[arg-type]
        frames = stream.events(broadcast, None, lambda _: True)
        first = asyncio.ensure_future(frames.__anext__())
        await asyncio.sleep(0)  # subscribed, waiting for news
        broadcast._publish([stream.Change.of(10, place("a"))])
        sent = [await first]  # the client got 10
        for position, place_id in [(11, "b"), (12, "c"), (13, "d"), (14, "e")]:  # room for 3
            broadcast._publish([stream.Change.of(position, place(place_id))])
        async for frame in frames:
            sent.append(frame)
        text = b"".join(sent).decode()
        return [int(line[3:]) for line in text.splitlines() if line.startswith("id:")]

    ids = asyncio.run(run())
    assert ids == [10]  # cut off after 10: resuming from it (Last-Event-ID) loses nothing


def test_a_step_reaches_each_subscriber_as_one_write_and_the_backlog_keeps_only_what_is_untaken() -> None:
    async def run() -> tuple[list[int], list[int], list[int]]:
        broadcast = stream.ChangeBroadcast(runtime=None, watch=PositionWatch(), cache=ReadCache())  # type: ignore[arg-type]
        fast, slow = (
            stream.events(broadcast, None, lambda _: True),
            stream.events(broadcast, None, lambda _: True),
        )
        fast_next, slow_next = (
            asyncio.ensure_future(fast.__anext__()),
            asyncio.ensure_future(slow.__anext__()),
        )
        await asyncio.sleep(0)  # both subscribed, waiting for news
        broadcast._publish([stream.Change.of(10, place("a")), stream.Change.of(11, place("b"))])
        fast_got, slow_got = [await fast_next], [await slow_next]  # the whole step at once
        held = []
        for position, place_id in [(12, "c"), (13, "d")]:  # the slow one is busy sending meanwhile
            broadcast._publish([stream.Change.of(position, place(place_id))])
            fast_got.append(await fast.__anext__())
            held.append(len(broadcast._backlog))
        slow_got.append(await slow.__anext__())  # both it missed, in one write
        broadcast._publish([stream.Change.of(14, place("e"))])  # everything before it was taken
        held.append(len(broadcast._backlog))
        await fast.aclose()
        await slow.aclose()
        return (
            [chunk.count(b"id: ") for chunk in fast_got],
            [chunk.count(b"id: ") for chunk in slow_got],
            held,
        )

    fast_writes, slow_writes, held = asyncio.run(run())
    assert fast_writes == [2, 1, 1]
    assert slow_writes == [2, 2]
    assert held == [1, 2, 1]  # what the slow one had yet to take, then only the newest
