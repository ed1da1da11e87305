"""OneWrite: what is written in one turn of the event loop leaves in one write, at that turn's end."""

from __future__ import annotations

import asyncio
from typing import Any

from services.web.protocol import OneWrite


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


def test_a_head_and_body_written_in_one_turn_leave_in_one_write() -> None:
    asyncio.run(_a_head_and_body_written_in_one_turn_leave_in_one_write())


async def _a_head_and_body_written_in_one_turn_leave_in_one_write() -> None:
    transport = Recorded()
    one = _one_write(transport)
    one.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    one.write(b"{}")
    assert transport.calls == []  # held until the turn ends
    assert one.get_write_buffer_size() == 40
    await _turn()
    assert transport.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]


def test_writes_of_different_turns_are_not_held_for_each_other() -> None:
    asyncio.run(_writes_of_different_turns_are_not_held_for_each_other())


async def _writes_of_different_turns_are_not_held_for_each_other() -> None:
    transport = Recorded()
    one = _one_write(transport)
    one.write(b"first")
    await _turn()
    one.write(b"second")
    await _turn()
    assert transport.calls == [("write", b"first"), ("write", b"second")]


def test_closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    asyncio.run(_closing_sends_what_is_held_first_and_aborting_drops_it())


async def _closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    closed, aborted = Recorded(), Recorded()
    one, other = _one_write(closed), _one_write(aborted)
    one.write(b"last answer")
    one.close()
    other.write(b"never sent")
    other.abort()
    await _turn()
    assert closed.calls == [("write", b"last answer"), ("close", None)]
    assert aborted.calls == [("abort", None)]


def test_nothing_is_written_to_a_transport_already_closing() -> None:
    asyncio.run(_nothing_is_written_to_a_transport_already_closing())


async def _nothing_is_written_to_a_transport_already_closing() -> None:
    transport = Recorded()
    one = _one_write(transport)
    one.write(b"to a peer that left")
    transport.closing = True  # the connection was lost before the turn ended
    await _turn()
    assert transport.calls == []


def test_a_buffer_written_is_copied_and_the_rest_is_the_transports() -> None:
    asyncio.run(_a_buffer_written_is_copied_and_the_rest_is_the_transports())


async def _a_buffer_written_is_copied_and_the_rest_is_the_transports() -> None:
    transport = Recorded()
    one = _one_write(transport)
    buffer = bytearray(b"abc")
    one.write(buffer)
    buffer[:] = b"xyz"  # the writer may reuse its buffer once write returns
    one.set_write_buffer_limits(high=64)  # not OneWrite's own: the transport's
    await _turn()
    assert transport.calls == [("limits", (64, None)), ("write", b"abc")]
