"""The read API's part of an app's context: what its routes and its cache's fast path share while
the app runs (the version followed, the answer cache, the change broadcast)."""

from __future__ import annotations

from services.api.cache import ReadCache
from services.api.position import Follower, PositionWatch
from services.api.stream import ChangeBroadcast
from services.web.context import AppContext
from services.web.runtime import Runtime


class ReadSide:
    """The read models' version (kept current by the follower), the answers cached by it, and the
    broadcast of changes (which also tells the cache what each version touched)."""

    def __init__(self, runtime: Runtime) -> None:
        self.watch = PositionWatch()
        self.cache = ReadCache()
        self.follower = _follower(runtime, self.watch)
        self.broadcast = ChangeBroadcast(runtime, self.watch, self.cache)

    def start(self) -> None:
        self.follower.start()
        self.broadcast.start()

    def stop(self) -> None:
        self.broadcast.stop()
        self.follower.stop()

    async def aclose(self) -> None:
        await self.broadcast.aclose()


def _follower(runtime: Runtime, watch: PositionWatch) -> Follower:
    if runtime.replica is None:  # LISTEN on the database, with a slow poll behind it
        return Follower(runtime.db, watch, poll_interval=1.0)
    # A standby hears no NOTIFY: its own replayed checkpoint is polled.
    return Follower(runtime.replica, watch, poll_interval=runtime.settings.read_poll_interval, listen=False)


def wire(context: AppContext) -> None:
    """Start the read side (the app factory puts it before what advances it: the embedded projector)."""
    side = context.start(ReadSide, ReadSide(context.runtime))
    context.on_aclose(side.aclose)
