"""Per-process resources of a projector: created lazily in the process that uses them.

RQ's forking worker runs each job in a child process; an engine (and its pooled sockets) created
before a fork must not be used after it. Keying the cached Database by process id makes every
process build its own, whichever worker class runs the job.
"""

from __future__ import annotations

import os
import threading

from services.config import Settings
from services.store.database import Database

_lock = threading.RLock()
_settings: Settings | None = None
_database: Database | None = None


def settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings()
        return _settings


def database() -> Database:
    global _database
    with _lock:
        if _database is None or _database.pid != os.getpid():
            _database = Database(settings().database_url, pool_size=2)
        return _database


def configure(new_settings: Settings) -> None:
    """Use `new_settings` in this process (the `frontline worker` entrypoint calls this)."""
    global _settings, _database
    with _lock:
        _settings, _database = new_settings, None
