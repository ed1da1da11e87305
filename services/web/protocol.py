"""The HTTP protocol every Frontline server runs: uvicorn's httptools protocol, each answer sent
in one write.

uvicorn writes an answer's head and its body with two `transport.write` calls. uvloop sends each
at once: two system calls, two TCP segments, and on the client's side two wake-ups, for every
answer. For the read API's cached answers that was most of their cost: a profile of the read API
under wrk (`docs/performance-notes.md`, thirteenth stop) had 56 % of its CPU in uvicorn's `send`,
nearly all of it the kernel's work for those writes.

`OneWrite` holds an answer's head (a write that begins with the status line and ends with the blank
line) and sends it with the write that follows, the body, at once: one write per answer, and no
answer waits. A head with no write after it in the same turn of the event loop (a HEAD answer,
`100 Continue`, a streamed answer whose first chunk comes later) goes at the end of that turn
(`loop.call_soon`). Every other write (a streamed answer's next chunk: the Server-Sent Events of
`/v1/stream`) goes at once, as before. Closing sends what is held first; aborting drops it, as the
transport itself would.

Every server the `frontline` command starts runs it (`services.cli._run`); `uvicorn --factory`
started by hand runs uvicorn's own protocol unless given `--http services.web.protocol:OneWriteProtocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

STATUS_LINE = b"HTTP/1.1 "  # how every head uvicorn writes begins (it answers in HTTP/1.1 only)


class OneWrite:
    """A transport that sends an answer's head with the write that follows it."""

    __slots__ = ("_flush", "_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)  # the caller may reuse its buffer once write returns
        if self._head is not None:
            head, self._head = self._head, None
            self._cancel_flush()
            # Joined, not `writelines` (one writev): as fast for a 55 KB body, faster for a small one.
            self._transport.write(head + data)
        elif data.startswith(STATUS_LINE) and data.endswith(b"\r\n\r\n"):
            self._head = data
            self._flush = self._loop.call_soon(self.flush)  # in case no body follows in this turn
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send a head still held. A transport closing still sends what it is given (uvloop closes
        it itself when the client shuts its side, and sends what is buffered first); one whose
        connection is gone drops it, or refuses it once its handle is closed."""
        self._cancel_flush()
        head, self._head = self._head, None
        if head is not None:
            with contextlib.suppress(RuntimeError):
                self._transport.write(head)

    def _cancel_flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._cancel_flush()
        self._head = None
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._head or b"")

    # What uvicorn calls for every request, spelled out (the rest goes through __getattr__).
    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, writing through `OneWrite`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        one_write: Any = OneWrite(transport, asyncio.get_running_loop())
        super().connection_made(one_write)
