"""OneWrite: an answer's head leaves with the write that follows it; nothing else waits."""

from __future__ import annotations

import asyncio
from typing import Any

from services.web.protocol import OneWrite

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorded:
    """A transport that records what reaches it (a fake: the wire itself is tested end to end in
    tests/e2e/test_embedded.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.calls.append(("limits", (high, low)))


async def _turn() -> None:
    await asyncio.sleep(0)  # one turn of the loop: the callbacks scheduled before it have run


def _one_write(transport: Recorded) -> OneWrite:
    return OneWrite(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


def test_a_head_leaves_with_its_body_at_once() -> None:
    async def run() -> None:
        transport = Recorded()
        one = _one_write(transport)
        one.write(HEAD)
        assert transport.calls == []  # held for the body
        assert one.get_write_buffer_size() == len(HEAD)
        one.write(b"{}")
        assert transport.calls == [("write", HEAD + b"{}")]  # not waiting for the turn's end
        await _turn()
        assert transport.calls == [("write", HEAD + b"{}")]

    asyncio.run(run())


def test_a_head_with_no_body_leaves_at_the_end_of_the_turn() -> None:
    async def run() -> None:
        transport = Recorded()
        one = _one_write(transport)
        one.write(b"HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n")
        assert transport.calls == []
        await _turn()
        assert transport.calls == [("write", b"HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n")]

    asyncio.run(run())


def test_a_streamed_answers_chunks_are_not_held() -> None:
    async def run() -> None:
        transport = Recorded()
        one = _one_write(transport)
        one.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        one.write(b"5\r\nfirst\r\n")
        one.write(b"6\r\nsecond\r\n")  # an event pushed later in the same turn goes at once too
        assert [data for _, data in transport.calls] == [
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n",
            b"6\r\nsecond\r\n",
        ]

    asyncio.run(run())


def test_closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    async def run() -> None:
        closed, aborted = Recorded(), Recorded()
        one, other = _one_write(closed), _one_write(aborted)
        one.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        one.close()
        other.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        other.abort()
        await _turn()
        assert closed.calls == [("write", b"HTTP/1.1 204 No Content\r\n\r\n"), ("close", None)]
        assert aborted.calls == [("abort", None)]

    asyncio.run(run())


def test_nothing_is_written_to_a_transport_already_closing() -> None:
    async def run() -> None:
        transport = Recorded()
        one = _one_write(transport)
        one.write(b"HTTP/1.1 304 Not Modified\r\n\r\n")
        transport.closing = True  # the connection was lost before the turn ended
        await _turn()
        assert transport.calls == []

    asyncio.run(run())


def test_a_buffer_written_is_copied_and_the_rest_is_the_transports() -> None:
    async def run() -> None:
        transport = Recorded()
        one = _one_write(transport)
        buffer = bytearray(HEAD)
        one.write(buffer)
        buffer[:] = b"x" * len(HEAD)  # the writer may reuse its buffer once write returns
        one.set_write_buffer_limits(high=64)  # not OneWrite's own: the transport's
        one.write(b"{}")
        assert transport.calls == [("limits", (64, None)), ("write", HEAD + b"{}")]

    asyncio.run(run())
