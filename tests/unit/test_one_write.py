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

        self.gone = False  # its handle closed: a write raises, as uvloop's does

    def write(self, data: bytes) -> None:
        if self.gone:
            raise RuntimeError(
                "unable to perform operation on <TCPTransport closed=True>; the handler is closed"
            )
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


def test_a_held_head_still_goes_to_a_transport_closing_and_not_to_one_gone() -> None:
    async def run() -> None:
        closing, gone = Recorded(), Recorded()
        one, other = _one_write(closing), _one_write(gone)
        for one_write in (one, other):
            one_write.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")  # a HEAD answer: no body
        # uvloop closes a transport itself when the client shuts its side, and still sends what it
        # is given; once the connection is lost and its handle closed, a write raises.
        closing.closing = True
        gone.closing = gone.gone = True
        await _turn()
        assert closing.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")]
        assert gone.calls == []

    asyncio.run(run())


def test_a_body_that_reads_like_a_status_line_is_not_held() -> None:
    async def run() -> None:
        transport = Recorded()
        one = _one_write(transport)
        one.write(b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n")
        one.write(b"HTTP/1.1 is the protocol; ")  # the body's first chunk, joined with the head
        one.write(b"HTTP/1.1 again, a second chunk")  # not a head: it goes at once
        assert [data for _, data in transport.calls] == [
            b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\nHTTP/1.1 is the protocol; ",
            b"HTTP/1.1 again, a second chunk",
        ]

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
