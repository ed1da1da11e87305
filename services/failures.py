"""What stops a `frontline` command, told in a line or two: what failed, and what to do.

The adapters translate their drivers' exceptions at their own boundary (the store's
`StoreUnavailable` and `NotMigrated`, the doorbell's `QueueUnavailable`, the demo's
`ServerUnreachable`); this module is the one place that turns those into words for a person at
a terminal. Messages name the setting to look at and never hold a password.
"""

from __future__ import annotations

from services.config import ConfigurationError
from services.demo import ServerRefused, ServerUnreachable
from services.doorbell import QueueUnavailable
from services.store.errors import Cause, NotMigrated, StoreUnavailable

HINTS: dict[Cause, str] = {
    "refused": "is it running?",
    "login": "check the user and password in DATABASE_URL",
    "no-database": "create it, or correct DATABASE_URL",
    "unknown-host": "check the host in DATABASE_URL",
    "timeout": "is it running, and reachable from here?",
    "file": "does the file's folder exist, and may this user write there?",
    "other": "check DATABASE_URL, and that the database is up",
}
MIGRATE = "run `frontline migrate` first"


def explain(exc: BaseException) -> str | None:
    """The message for a failure a user can fix, or None for a bug (which keeps its traceback)."""
    match exc:
        case NotMigrated():
            missing = "has no tables yet" if exc.table == "alembic_version" else f"has no table {exc.table!r}"
            return f"{_named(exc)} (DATABASE_URL) {missing}: {MIGRATE}"
        case StoreUnavailable():
            return f"cannot reach {_named(exc)} (DATABASE_URL): {exc.reason}; {HINTS[exc.cause]}"
        case QueueUnavailable():
            return f"cannot reach Redis at {exc.where} (REDIS_URL): {exc.reason}; is it running?"
        case ServerUnreachable():
            return (
                f"cannot reach Frontline at {exc.url}: {exc.reason}; is `make run` running? "
                "(another port: PORT=N, or --url)"
            )
        case ServerRefused():
            return f"Frontline at {exc.url} answered {exc.status}: {exc.detail}"
        case ConfigurationError():
            return str(exc)
    return None


def _named(exc: StoreUnavailable) -> str:
    return f"SQLite file {exc.where}" if exc.backend == "SQLite" else f"{exc.backend} at {exc.where}"
