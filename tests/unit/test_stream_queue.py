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
