"""Answers cached by read-model version: polling is cheap, and unchanged answers are 304s.

An answer depends only on the request (path and query) and on what the read models hold, their
(generation, position). So the serialised bytes are kept under (request, version); a dashboard
polling an unchanged model gets them without a query, or a 304 when its ETag matches, and the first
poll after the projector moves computes the new answer once (concurrent identical requests wait
for that one computation).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode

from services.api.position import Version

T = TypeVar("T")
IGNORED_PARAMS = {"min_position"}  # waiting for a position does not change the answer


def request_key(path: str, query_string: str, declared: frozenset[str] | None = None) -> str:
    """The cache key of a request: its path and the query parameters that shape the answer."""
    if not query_string:
        return f"{path}?"  # most polls: no parameters to parse
    params = sorted(
        (k, v)
        for k, v in parse_qsl(query_string, keep_blank_values=True)
        if k not in IGNORED_PARAMS and (declared is None or k in declared)
    )
    return f"{path}?{urlencode(params)}"


@dataclass(frozen=True)
class Entry:
    version: Version
    etag: str
    body: bytes
    media_type: str

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"etag", self.etag.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-projection-position", str(self.version.position).encode()),
        ]


def etag_for(key: str, version: Version) -> str:
    digest = hashlib.blake2b(key.encode(), digest_size=6).hexdigest()
    return f'"g{version.generation}.p{version.position}.{digest}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return (
        any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
        or if_none_match.strip() == "*"
    )


class ReadCache:
    """A bounded LRU of answers by request key, each valid for one read-model version."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, Version], asyncio.Future[object]] = {}

    def get(self, key: str, version: Version) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, version: Version, body: bytes, media_type: str) -> Entry:
        entry = Entry(version, etag_for(key, version), body, media_type)
        with self._lock:
            current = self._entries.get(key)
            if current is None or current.version <= version:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return entry

    async def single_flight(self, key: str, version: Version, compute: Callable[[], Awaitable[T]]) -> T:
        """Run `compute` once for concurrent identical requests at the same version."""
        flight = (key, version)
        running = self._inflight.get(flight)
        if running is not None:
            return await asyncio.shield(running)  # type: ignore[arg-type]  # the same compute's T
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = future
        try:
            entry = await compute()
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._inflight[flight]
