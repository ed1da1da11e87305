"""A projector process's context: its settings and database, created lazily in the process that
uses them.

RQ calls a job by its importable name with primitive arguments, so a job finds its process's
context here (`current()`), not in an argument. RQ's forking worker runs each job in a child
process; an engine (and its pooled sockets) created before a fork must not be used after it:
keying the Database by process id makes every process build its own, whichever worker class runs
the job.
"""

from __future__ import annotations

import os
import threading

from services.config import Settings
from services.store.database import Database


class ProjectorContext:
    """The settings a projector process runs with, its one Database, and whether it was asked to
    stop (a job that would wait for more work ends instead)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._database: Database | None = None
        self._lock = threading.RLock()
        self.stopping = threading.Event()

    @property
    def settings(self) -> Settings:
        with self._lock:
            if self._settings is None:
                self._settings = Settings()
            return self._settings

    def database(self) -> Database:
        with self._lock:
            if self._database is None or self._database.pid != os.getpid():
                self._database = Database(self.settings.database_url, pool_size=2)
            return self._database


_current = ProjectorContext()


def current() -> ProjectorContext:
    """This process's projector context."""
    return _current


def configure(new_settings: Settings) -> None:
    """Use `new_settings` in this process (the `frontline worker` entrypoint calls this)."""
    global _current
    _current = ProjectorContext(new_settings)
