"""A paced HTTP/1.1 client: requests sent on a fixed schedule over a pool of keep-alive connections.

Built on asyncio streams rather than httpx: on this 2-core machine the client competes with what it
measures, and httpx's pool bookkeeping grows with the number of requests waiting (it stalled the
whole client once the schedule slipped). Each request is prebuilt bytes; a connection sends one
request at a time and reads the answer (Content-Length framing, which every answer of the APIs
has). When every connection is busy a request waits, and its `sent` time shows how late it went.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench.listen import clock
from bench.stack import HEADERS

IDLE_LIMIT = 4.0  # seconds; uvicorn closes a keep-alive connection idle for 5


@dataclass
class Sent:
    due: float  # when the schedule says it goes
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0  # 0: no answer (see error)
    body: bytes = b""
    error: str = ""


def post_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get_request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


class Connection:
    """One keep-alive connection, one exchange at a time (reconnecting when idle too long)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None or clock() - self.used > IDLE_LIMIT:
            await self._reconnect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, length, close = _parse_head(head)
        body = await self.reader.readexactly(length)
        self.used = clock()
        if close:
            self.close()
        return status, body

    async def _reconnect(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Pool:
    """`size` keep-alive connections to one server, each used by one exchange at a time."""

    def __init__(self, address: tuple[str, int], size: int) -> None:
        self.address = address
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(Connection(*address))

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        connection = await self._idle.get()
        try:
            return await connection.exchange(raw)
        except BaseException:
            connection.close()  # its stream is in an unknown state
            raise
        finally:
            self._idle.put_nowait(connection)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


async def post_reports(
    ingest: tuple[str, int], count: int, rate: float, make: Callable[[int], bytes]
) -> dict[int, float]:
    """POST `count` reports (`make(n)`) at `rate` a second over 8 connections; each answered
    position and when its answer came (time.monotonic())."""
    pool = Pool(ingest, 8)
    answered: dict[int, float] = {}

    async def one(n: int) -> None:
        status, body = await pool.exchange(post_request(*ingest, "/v1/reports", HEADERS, make(n)))
        if status == 201:
            answered[int(orjson.loads(body)["position"])] = time.monotonic()

    start, tasks = time.monotonic(), []
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    pool.close()
    return answered


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = dict(line.lower().split(b":", 1) for line in lines[1:] if b":" in line)
    if b"content-length" not in fields:
        raise ValueError("an answer without Content-Length")
    return status, int(fields[b"content-length"]), fields.get(b"connection", b"").strip() == b"close"


async def _send(queue: asyncio.Queue[tuple[Sent, bytes]], connection: Connection) -> None:
    while True:
        sent, raw = await queue.get()
        sent.sent = clock()
        try:
            sent.status, sent.body = await connection.exchange(raw)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            sent.error = repr(exc)
            connection.close()
        sent.answered = clock()
        queue.task_done()


async def _paced(host: str, port: int, requests: list[bytes], rate: float, connections: int) -> list[Sent]:
    queue: asyncio.Queue[tuple[Sent, bytes]] = asyncio.Queue()
    pool = [Connection(host, port) for _ in range(connections)]
    senders = [asyncio.create_task(_send(queue, connection)) for connection in pool]
    start = clock() + 0.1
    done = []
    for i, raw in enumerate(requests):
        sent = Sent(due=start + i / rate)
        if (delay := sent.due - clock()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((sent, raw))
        done.append(sent)
    await queue.join()
    for sender in senders:
        sender.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
    for connection in pool:
        connection.close()
    return done


def paced(host: str, port: int, requests: list[bytes], rate: float, connections: int = 64) -> list[Sent]:
    """Send `requests` (prebuilt bytes) one every 1/`rate` s; what each was answered, and when."""
    return asyncio.run(_paced(host, port, requests, rate, connections))
