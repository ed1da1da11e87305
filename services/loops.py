"""The one shape of a background thread here: a loop that waits (at most `interval` seconds, or
until woken), then does one `tick`, until stopped.

The embedded projector, the reconciler, the position follower and the report writer are all
this loop; each says only what one tick does. A loop is a daemon thread: a process that exits
without stopping it (a crashed server) does not hang on it; a clean stop wakes it and waits for
the tick in progress to end.
"""

from __future__ import annotations

import threading

import structlog

log = structlog.get_logger(__name__)


class Loop:
    """Start, stop, wake; subclasses implement `tick`.

    `interval`: the longest wait between ticks (0: none, for a tick that blocks on its own input).
    `wake`: an event that ends the wait early (a doorbell's); by default one of the loop's own.
    """

    def __init__(
        self,
        name: str,
        interval: float,
        wake: threading.Event | None = None,
        stop_timeout: float | None = None,
    ) -> None:
        self.interval = interval
        self.stop_timeout = interval + 5 if stop_timeout is None else stop_timeout
        self._wake = wake or threading.Event()
        self._stopping = threading.Event()
        self.name = name
        # Whether the wait before the tick in progress ended by a wake-up (False: its interval
        # passed, or the loop has none).
        self.woken = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """End the current wait: the next tick starts now."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the loop to end and wait (up to `stop_timeout`) for the tick in progress."""
        self._stopping.set()
        self._wake.set()
        self.join()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(self.stop_timeout)

    def pause(self, seconds: float) -> None:
        """From inside a tick: wait `seconds`, unless the loop is stopped meanwhile."""
        self._stopping.wait(seconds)

    def forget_wakes(self) -> None:
        """From inside a tick: drop the wake-ups that came so far (this tick sees to them)."""
        self._wake.clear()

    def finish(self) -> None:
        """From inside a tick: this is the last one."""
        self._stopping.set()

    def tick(self) -> None:
        raise NotImplementedError

    def ended(self) -> None:
        """On the loop's thread, as it ends however it ends (stopped, or a tick raised): a loop
        that others wait on answers them here."""

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                if self.interval:
                    self.woken = self._wake.wait(self.interval)
                    self._wake.clear()
                    if self._stopping.is_set():
                        return
                self.tick()
        except Exception:
            # The thread ends here either way: said in the log's own form, not threading's.
            log.exception("loop.failed", loop=self.name)
        finally:
            self.ended()
