"""What the read models hold: the projection's (generation, position), known without a query.

Every cached answer and ETag is keyed by it. It moves when the projector commits: PostgreSQL
NOTIFYs listeners on commit, the embedded projector calls `advance` directly, and a slow poll
covers a lost notification or connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
import structlog

from services.loops import Loop
from services.store import checkpoints
from services.store.database import Database
from services.store.read_models import PROJECTION

log = structlog.get_logger(__name__)


@dataclass(frozen=True, order=True)
class Version:
    generation: int
    position: int

    def reaches(self, least: Version) -> bool:
        """At or after `least`, and at or after its log position: a `min_position` is a position in
        the log, whatever the generation of the read models that reached it."""
        return self >= least and self.position >= least.position


class PositionWatch:
    """The latest known version of the read models, and a way to wait for a position."""

    def __init__(self) -> None:
        self._version = Version(0, 0)
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def version(self) -> Version:
        return self._version

    def advance(self, version: Version) -> None:
        """Record a version seen in the database (older ones are ignored)."""
        with self._lock:
            if version <= self._version:
                return
            self._version = version
            waiters, self._waiters = self._waiters, set()
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(event.set)

    async def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until the read models reach `position`; False if `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while self._version.position < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await self._next_advance(lambda: self._version.position >= position, remaining)
        return True

    async def wait_changed(self, seen: Version, timeout: float) -> Version:
        """Wait until the version differs from `seen` (a new position or a replay's generation),
        at most `timeout` seconds; the version then."""
        await self._next_advance(lambda: self._version != seen, timeout)
        return self._version

    async def _next_advance(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait (at most `timeout`) for the next advance, unless `ready()` holds already. A waiter
        that times out takes itself off the list: a quiet database must not grow it."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if ready():
                return
            self._waiters.add(waiter)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a cancellation that
            # arrives as the event is set, and the change feed's task, told to stop, ran on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await waiter[1].wait()
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def read_version(conn: sa.Connection) -> Version:
    checkpoint = checkpoints.read(conn, PROJECTION)
    return Version(checkpoint.generation, checkpoint.position) if checkpoint else Version(0, 0)


class Follower(Loop):
    """Keeps a PositionWatch current: LISTEN on PostgreSQL, polling on both backends (and only
    polling on a hot standby, which hears no NOTIFY)."""

    def __init__(self, db: Database, watch: PositionWatch, poll_interval: float, listen: bool = True) -> None:
        super().__init__("position-follower", poll_interval)
        self.db = db
        self.watch = watch
        self.poll_interval = poll_interval
        self.listen = listen and db.backend.hears_notices()

    def start(self) -> None:
        self.poll()
        super().start()
        if self.listen:
            self.wake()  # listen now, not after a first interval

    def poll(self) -> None:
        try:
            with self.db.snapshot() as conn:
                self.watch.advance(read_version(conn))
        except Exception as exc:  # the database may be down; keep serving what is cached
            log.warning("position.poll_failed", error=str(exc))

    def tick(self) -> None:
        """Listen until stopped (an interval's wait after a lost connection), or poll once."""
        if self.listen:
            self._listen()
        else:
            self.poll()

    def _listen(self) -> None:
        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {checkpoints.NOTIFY_CHANNEL}")
                schema = conn.execute("SELECT current_schema()").fetchone()
                self.poll()  # anything committed before LISTEN took effect
                while not self.stopping:
                    heard = False
                    for note in conn.notifies(timeout=self.poll_interval, stop_after=1):
                        heard = self._heard(note.payload, schema[0] if schema else None)
                    if not heard:  # a quiet interval, or a notice it cannot use: read the checkpoint
                        self.poll()
        except psycopg.Error as exc:
            log.warning("position.listen_failed", error=str(exc))

    def _heard(self, payload: str, schema: str | None) -> bool:
        """Advance to what the notice says, if it is this schema's projection's; else False.

        The notice is sent in the transaction that moved the checkpoint and delivered when it
        commits, so it is the news itself: no need to read the checkpoint back (a round trip off
        every `min_position` wait). Notices of other schemas sharing the channel are ignored.
        """
        notice = checkpoints.parse_notice(payload)
        if notice is None or notice.schema != schema:
            return False
        if notice.name == PROJECTION:
            self.watch.advance(Version(notice.generation, notice.position))
        return True
