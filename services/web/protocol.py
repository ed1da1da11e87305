"""The HTTP protocol every Frontline server runs: uvicorn's httptools protocol, each answer sent
in one write.

uvicorn writes an answer's head and its body with two `transport.write` calls. uvloop sends each
at once: two system calls, two TCP segments, and on the client's side two wake-ups, for every
answer. For the read API's cached answers that was most of their cost: a profile of the read API
under wrk (`docs/performance-notes.md`, thirteenth stop) had 56 % of its CPU in uvicorn's `send`,
nearly all of it the kernel's work for those writes.

`OneWrite` holds what is written during one turn of the event loop and sends it in one write at
the end of that turn (`loop.call_soon`). uvicorn writes an answer's head and body in the same turn
(nothing is awaited between them unless the socket's buffer is full), so each answer leaves in one
write, without delaying it: the loop's next turn comes as soon as this one's callbacks are done.
Closing sends what is held first; aborting drops it, as the transport itself would.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWrite:
    """A transport that sends what is written in one event-loop turn as one write."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is held (nothing once the connection is closing: the peer is gone)."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._held)

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
