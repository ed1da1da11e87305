"""A Server-Sent Events subscriber in a thread, collecting what `GET /v1/stream` sends."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson
from httpx_sse import ServerSentEvent, connect_sse


class Subscriber:
    """Reads the stream until closed; `events` holds every event in the order it came."""

    def __init__(
        self, base: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.events: list[ServerSentEvent] = []
        self.status: int | None = None
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=60))
        self._params, self._headers = params or {}, headers or {}
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Subscriber:
        self._thread.start()
        assert self._opened.wait(10), "the stream did not answer"
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()  # ends the read in the thread
        self._thread.join(10)

    def _read(self) -> None:
        try:
            options = {"params": self._params, "headers": self._headers}
            stream = connect_sse(self._client, "GET", "/v1/stream", **options)
            with stream as src:
                self.status = src.response.status_code
                self._opened.set()
                for event in src.iter_sse():
                    self.events.append(event)
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by __exit__
        finally:
            self._opened.set()

    def places(self) -> list[tuple[int, dict[str, Any]]]:
        """The `place` events as (position, place)."""
        return [(int(e.id), orjson.loads(e.data)) for e in self.events if e.event == "place"]

    def wait_for_position(self, position: int, timeout: float = 10) -> None:
        """Wait until a `place` event at `position` or later has come; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        while not any(p >= position for p, _ in self.places()):
            assert time.monotonic() < deadline, f"no place event at {position} after {timeout} s"
            time.sleep(0.02)

    def wait_for(self, count: int, timeout: float = 10, event: str = "place") -> list[ServerSentEvent]:
        """Wait until `count` events of the kind have come; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        while len(found := [e for e in self.events if e.event == event]) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} {event} events after {timeout} s"
            time.sleep(0.02)
        return found
