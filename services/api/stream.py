"""The push stream, `GET /v1/stream`: Server-Sent Events of changed place states.

One `ChangeBroadcast` per process reads the change feed (place states by the log position of
their last change, the same rows as `GET /v1/changes`) once each time the read models move, adds
the changes to one backlog that every subscriber reads through its own cursor, and wakes them all
at once: a thousand dashboards cost one query per move, not a thousand, and one frame encoding
per change. A subscriber resuming after a position (`Last-Event-ID` or `?after=`) first reads what
it missed from that feed, up to the position the broadcast had reached when it joined, then takes
the broadcast's changes past it: nothing is lost at the seam, and nothing comes twice.

A subscriber resuming from before a replay swap that this process knows of gets the `replay`
event first, so that its client reloads. A subscriber too slow to keep up is disconnected rather
than buffered without bound; its client reconnects with `Last-Event-ID` and catches up from the
feed, so that costs latency only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from services.api import reads
from services.api.cache import ReadCache
from services.api.filters import PlaceFilters
from services.api.position import PositionWatch, Version, read_version
from services.api.reads import Bounds, Context
from services.store.database import LoopSnapshots
from services.store.read_models import tables
from services.web.runtime import Runtime

log = structlog.get_logger(__name__)

PAGE = 1000  # change-feed rows per query
QUEUE_LIMIT = 10_000  # changes a subscriber may have waiting before it is cut off
IDLE_CHECK = 5.0  # seconds between looks at the version when no notice arrives
STOP_WAIT = 10.0  # seconds a stop waits for the change-feed read in flight
# A step of more log positions than this (a bulk import, a catch-up after an outage) is read, and
# noted by the cache, in a worker thread: on the loop its rows would hold every request up.
LOOP_STEP = 500
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
    """One subscriber's place in the broadcast's backlog.

    `joined_at` is where the broadcast stood when it joined, `swap` the last replay swap it knew
    of then, and `cursor` the sequence number of the next backlog item this subscriber takes.
    """

    joined_at: int
    swap: Swap | None
    cursor: int


class ChangeBroadcast:
    """Follows the read models' version; tells the answer cache which places each step touched,
    and fans each change out to every subscription.

    The fan-out keeps ONE backlog of items (each with its frame encoded once) that every
    subscription reads through its own cursor, and wakes all waiting subscribers with one event
    per step: a step costs the same few operations whatever the number of subscribers, and each
    subscriber then takes everything past its cursor in one slice (one write). The backlog keeps
    only what some subscriber has yet to take, and at most QUEUE_LIMIT items: a subscriber
    further behind than that is cut off (see `Subscription`, `take`).
    """

    def __init__(self, runtime: Runtime, watch: PositionWatch, cache: ReadCache) -> None:
        self.runtime = runtime
        self.watch = watch
        self.cache = cache
        self.seen = watch.version
        self.subscriptions: set[Subscription] = set()
        self.last_swap: Swap | None = None  # the latest replay swap this process knows of
        self._backlog: list[Item] = []
        self._base = 0  # the sequence number of `_backlog[0]`
        self._news = asyncio.Event()  # set (and replaced) when the backlog grows or the stream stops
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._snapshots: LoopSnapshots | None = None  # the change feed's reads, made on the loop

    def start(self) -> None:
        """Start following, on the serving loop, from the version known now."""
        self.seen = self.watch.version
        if self.seen.generation > 0:
            # A replay swapped in before this process started, at a position it cannot know: at
            # most the one it starts at. Announcing it to anyone resuming from there or before
            # may make a client reload once too often, never miss a swap.
            self.last_swap = Swap.of(self.seen)
        self.cache.note_changes(self.seen, ())
        self._snapshots = LoopSnapshots(self.runtime.read_db)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    @property
    def _head(self) -> int:
        return self._base + len(self._backlog)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self.seen.position, self.last_swap, self._head)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    async def take(self, subscription: Subscription) -> list[Item] | None:
        """Wait for items past the subscription's cursor and take them all; None when its stream
        ends: the broadcast stops, or the subscriber fell more than QUEUE_LIMIT items behind (then
        what it was not yet sent is dropped, so its client's Last-Event-ID is the last change it
        got and resuming from it loses nothing)."""
        while subscription.cursor == self._head and not self._stopped:
            await self._news.wait()
        if self._stopped:
            return None
        if subscription.cursor < self._base:
            log.info("stream.subscriber_dropped", reason="too far behind")
            return None
        items = self._backlog[subscription.cursor - self._base :]
        subscription.cursor = self._head
        return items

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._stopped = True
        self._wake()
        if self._snapshots is not None:
            self._snapshots.wait_for_threads(STOP_WAIT)

    async def aclose(self) -> None:
        """After `stop`, on the loop: let the cancelled task end (its read gives its connection
        back) and close the change feed's connection."""
        if self._task is not None:
            # Its cancellation is not this coroutine's; and a stop must not hang on it.
            await asyncio.wait([self._task], timeout=STOP_WAIT)
        if self._snapshots is not None:
            await self._snapshots.close()

    async def _follow(self) -> None:
        while True:
            await self.watch.wait_changed(self.seen, IDLE_CHECK)
            try:
                await self._publish_news()
            except Exception as exc:  # the database may be away: try again in a while
                log.warning("stream.read_failed", error=str(exc))
                await asyncio.sleep(RETRY_AFTER)

    async def _publish_news(self) -> None:
        if self.watch.version == self.seen or self._snapshots is None:
            return
        after, news = self.seen.position, self.watch.version
        large = news.generation != self.seen.generation or news.position - after > LOOP_STEP
        current, changes = await self._snapshots.run(
            lambda conn: self._read_news(conn, after), in_thread=large
        )
        swap = [Swap.of(current)] if current.generation != self.seen.generation else []
        self._publish([*swap, *changes])
        self.seen = max(self.seen, current)

    def _read_news(self, conn: sa.Connection, after: int) -> tuple[Version, list[Change]]:
        current, changes = changes_in(conn, self.runtime, after, None)
        # The cache renews what it can from memory as it notes (a contested page: about a millisecond).
        self.cache.note_changes(current, [(c.position, c.place) for c in changes])
        return current, changes

    def _publish(self, items: list[Item]) -> None:
        """Add a step's items to the backlog, forget what every subscriber has taken (or what
        is too far behind to keep), and wake the subscribers once for the whole step."""
        if not items:
            return
        for item in items:
            if isinstance(item, Swap):
                self.last_swap = item
        self._backlog += items
        taken = min((s.cursor for s in self.subscriptions), default=self._head)
        keep_from = max(taken, self._head - QUEUE_LIMIT, self._base)  # a cut-off cursor is below the base
        del self._backlog[: keep_from - self._base]
        self._base = keep_from
        self._wake()

    def _wake(self) -> None:
        # A fresh event for the next wait, so that the woken subscribers see this one set.
        news, self._news = self._news, asyncio.Event()
        news.set()


def read_changes(runtime: Runtime, after: int, until: int | None) -> tuple[Version, list[Change]]:
    """`changes_in` a snapshot of its own."""
    with runtime.read_db.snapshot() as conn:
        return changes_in(conn, runtime, after, until)


def changes_in(
    conn: sa.Connection, runtime: Runtime, after: int, until: int | None
) -> tuple[Version, list[Change]]:
    """The read models' version and every place state changed after `after` (up to `until`), in
    the snapshot of `conn`, in log order."""
    version = read_version(conn)
    ctx = Context(conn, tables(), lambda a: runtime.actors.name_of(conn, a), Bounds(), version.position)
    return version, list(_feed(ctx, after, until if until is not None else version.position))


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
        if after is not None and (frames := await _missed(broadcast, subscription, after, wanted)):
            yield b"".join(frames)
        while (items := await broadcast.take(subscription)) is not None:
            if frames := [item.frame for item in items if _sends(item, after, wanted)]:
                yield b"".join(frames)
    finally:
        broadcast.unsubscribe(subscription)


async def _missed(
    broadcast: ChangeBroadcast, subscription: Subscription, after: int, wanted: Filter
) -> list[bytes]:
    """What a client resuming after `after` missed before it joined: the `replay` event if the
    read models were swapped since (its id is no later than the swap: a client that was away
    across it reloads), then the changes from the change feed up to where the broadcast stood."""
    swap = subscription.swap
    frames = [swap.frame] if swap is not None and after <= swap.version.position else []
    if after < subscription.joined_at:
        runtime, joined_at = broadcast.runtime, subscription.joined_at
        _, missed = await run_in_threadpool(read_changes, runtime, after, joined_at)
        frames += [c.frame for c in missed if wanted(c.place)]
    return frames


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
