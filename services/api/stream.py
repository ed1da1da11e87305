"""The push stream, `GET /v1/stream`: Server-Sent Events of changed place states.

One `ChangeBroadcast` per process reads the change feed (place states by the log position of
their last change, the same rows as `GET /v1/changes`) once each time the read models move, and
hands every change to each subscriber's queue: a thousand dashboards cost one query per move, not
a thousand. A subscriber resuming after a position (`Last-Event-ID` or `?after=`) first reads what
it missed from that feed, up to the position the broadcast had reached when it joined, then takes
the broadcast's changes past it: nothing is lost at the seam, and nothing comes twice.

A subscriber too slow to drain its queue is disconnected rather than buffered without bound; its
client reconnects with `Last-Event-ID` and catches up from the feed, so that costs latency only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from services.api import reads
from services.api.cache import ReadCache
from services.api.filters import PlaceFilters
from services.api.position import PositionWatch, Version, read_version
from services.api.reads import Bounds, Context
from services.store.read_models import tables
from services.web.runtime import Runtime

log = structlog.get_logger(__name__)

PAGE = 1000  # change-feed rows per query
QUEUE_LIMIT = 10_000  # changes a subscriber may have waiting before it is cut off
IDLE_CHECK = 5.0  # seconds between looks at the version when no notice arrives
STOP_WAIT = 10.0  # seconds a stop waits for the change-feed read in flight
RETRY_AFTER = 1.0  # seconds before reading the change feed again after a failure


@dataclass(frozen=True)
class Change:
    """A place's new state, at the log position of the change that made it.

    `frame` is its Server-Sent Event, encoded once for every subscriber.
    """

    position: int
    place: dict[str, Any]
    frame: bytes = b""

    @classmethod
    def of(cls, position: int, place: dict[str, Any]) -> Change:
        event = ServerSentEvent(data=orjson.dumps(place).decode(), event="place", id=str(position))
        return cls(position, place, event.encode())


@dataclass(frozen=True)
class Swap:
    """A replay swapped new read models in: clients reload what they show."""

    version: Version
    frame: bytes = b""

    @classmethod
    def of(cls, version: Version) -> Swap:
        data = orjson.dumps({"generation": version.generation, "position": version.position}).decode()
        return cls(version, ServerSentEvent(data=data, event="replay", id=str(version.position)).encode())


Item = Change | Swap
Filter = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)  # each is itself: kept in a set by identity
class Subscription:
    """One subscriber's queue; `joined_at` is where the broadcast stood when it joined."""

    joined_at: int
    queue: asyncio.Queue[Item | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, item: Item | None) -> bool:
        """Queue `item`; False when the subscriber has fallen too far behind."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def end_now(self) -> None:
        """End the stream after what was already sent: everything still queued is dropped, so the
        client's Last-Event-ID is the last change it got, and resuming from it loses nothing."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next_batch(self) -> list[Item | None]:
        """Wait for what comes next, and take everything queued behind it: one write for all."""
        batch = [await self.queue.get()]
        while batch[-1] is not None and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch


class ChangeBroadcast:
    """Follows the read models' version; tells the answer cache which places each step touched,
    and fans each change out to every subscription."""

    def __init__(self, runtime: Runtime, watch: PositionWatch, cache: ReadCache) -> None:
        self.runtime = runtime
        self.watch = watch
        self.cache = cache
        self.seen = watch.version
        self.subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._reading = threading.Lock()  # held by the read of the change feed in flight

    def start(self) -> None:
        """Start following, on the serving loop, from the version known now."""
        self.seen = self.watch.version
        self.cache.note_changes(self.seen, ())
        self._task = asyncio.get_running_loop().create_task(self._follow())

    def subscribe(self) -> Subscription:
        subscription = Subscription(joined_at=self.seen.position)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for subscription in list(self.subscriptions):
            subscription.end_now()
        # Cancelling the task leaves a read already in the thread pool running: wait for it, so
        # that no query of this app outlives its stop (and its database's disposal).
        if self._reading.acquire(timeout=STOP_WAIT):
            self._reading.release()

    async def _follow(self) -> None:
        while True:
            await self.watch.wait_changed(self.seen, IDLE_CHECK)
            try:
                await self._publish_news()
            except Exception as exc:  # the database may be away: try again in a while
                log.warning("stream.read_failed", error=str(exc))
                await asyncio.sleep(RETRY_AFTER)

    async def _publish_news(self) -> None:
        if self.watch.version == self.seen:
            return
        current, changes = await run_in_threadpool(self._read_news)
        if current.generation != self.seen.generation:
            self._publish(Swap.of(current))
        for change in changes:
            self._publish(change)
        self.seen = max(self.seen, current)

    def _read_news(self) -> tuple[Version, list[Change]]:
        with self._reading:
            current, changes = read_changes(self.runtime, self.seen.position, None)
            # Noted here, off the event loop: the cache renews what it can from memory as it notes.
            self.cache.note_changes(current, [(c.position, c.place) for c in changes])
            return current, changes

    def _publish(self, item: Item) -> None:
        for subscription in list(self.subscriptions):
            if not subscription.offer(item):
                log.info("stream.subscriber_dropped", reason="too far behind")
                self.unsubscribe(subscription)
                subscription.end_now()


def read_changes(runtime: Runtime, after: int, until: int | None) -> tuple[Version, list[Change]]:
    """The read models' version and every place state changed after `after` (up to `until`), in
    one snapshot, in log order."""
    with runtime.read_db.snapshot() as conn:
        version = read_version(conn)
        ctx = Context(conn, tables(), lambda a: runtime.actors.name_of(conn, a), Bounds(), version.position)
        found = list(_feed(ctx, after, until if until is not None else version.position))
    return version, found


def _feed(ctx: Context, after: int, until: int) -> Iterator[Change]:
    after_place = None
    while after < until or after_place is not None:
        page = reads.changes(ctx, after, PAGE, after_place=after_place)
        for item in page["items"]:
            position = item.pop("position")
            if position > until:
                return
            yield Change.of(position, item)
            after, after_place = position, item["place_id"]
        if page["next_cursor"] is None:
            return


async def events(broadcast: ChangeBroadcast, after: int | None, wanted: Filter) -> AsyncIterator[bytes]:
    """A subscriber's stream: what it missed after `after`, then every change as it comes, as
    encoded Server-Sent Events (several at once when several are waiting)."""
    subscription = broadcast.subscribe()
    try:
        if after is not None and after < subscription.joined_at:
            runtime, joined_at = broadcast.runtime, subscription.joined_at
            _, missed = await run_in_threadpool(read_changes, runtime, after, joined_at)
            if frames := [c.frame for c in missed if wanted(c.place)]:
                yield b"".join(frames)
        while True:
            batch = await subscription.next_batch()
            if frames := [item.frame for item in batch if item is not None and _sends(item, after, wanted)]:
                yield b"".join(frames)
            if batch[-1] is None:
                return
    finally:
        broadcast.unsubscribe(subscription)


def _sends(item: Item, after: int | None, wanted: Filter) -> bool:
    if isinstance(item, Swap):
        return True
    return wanted(item.place) and (after is None or item.position > after)


def place_filter(filters: PlaceFilters) -> Filter:
    """The filters of `/v1/places` (resolved: a country code, an actor id, place ids), applied to
    a place's new state."""

    def wanted(place: dict[str, Any]) -> bool:
        return (
            (filters.country is None or place["country"] == filters.country)
            and (filters.status is None or place["status"] == filters.status)
            and (filters.actor is None or any(h["actor_id"] == filters.actor for h in place["control"]))
            and (filters.place_ids is None or place["place_id"] in filters.place_ids)
        )

    return wanted
