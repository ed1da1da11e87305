"""Translating the drivers' exceptions into store errors, at the store's boundary.

psycopg and sqlite3 say what went wrong in messages meant for their own developers (a
"connection failed: connection to server at ... failed: FATAL: ..." chain, "no such table: x").
This module reads them once, so that callers see a `StoreUnavailable` that names the database
and the cause, or a `NotMigrated` naming the missing table, and never parse driver text again.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from services.store import locations
from services.store.errors import Cause, NotMigrated, StoreError, StoreUnavailable

MISSING_TABLE = (
    re.compile(r'relation "(?P<table>[^"]+)" does not exist'),  # PostgreSQL (SQLSTATE 42P01)
    re.compile(r"no such table: (?P<table>\S+)"),  # SQLite
)
CAUSES: tuple[tuple[str, Cause], ...] = (
    ("connection refused", "refused"),
    ("password authentication failed", "login"),
    ("role ", "login"),
    ("no password supplied", "login"),
    ('database "', "no-database"),
    ("resolve host", "unknown-host"),
    ("name or service not known", "unknown-host"),
    ("timeout", "timeout"),
    ("timed out", "timeout"),
    ("unable to open database file", "file"),
)


def translate(exc: sa.exc.DBAPIError, url: str) -> StoreError | None:
    """The store error `exc` means, or None when it is not about reaching or finding the database
    (a constraint, a bad statement: the caller's own business)."""
    message = str(exc.orig).strip()
    for pattern in MISSING_TABLE:
        if (found := pattern.search(message)) is not None:
            return NotMigrated(found["table"], backend=locations.backend(url), where=locations.where(url))
    if exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError):
        reason = _reason(message)
        return StoreUnavailable(
            reason, backend=locations.backend(url), where=locations.where(url), cause=_cause(reason)
        )
    return None


def _reason(message: str) -> str:
    """The last link of psycopg's chain, on one line: 'connection failed: connection to server at
    "h", port p failed: FATAL:  database "x" does not exist' -> 'database "x" does not exist'."""
    first = message.splitlines()[0] if message else "the database is unavailable"
    reason = first.rsplit(" failed: ", 1)[-1].removeprefix("connection failed: ")
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason)
    return reason[:1].lower() + reason[1:] if reason[1:2].islower() else reason  # not "SSL ..."


def _cause(reason: str) -> Cause:
    lowered = reason.lower()
    return next((cause for text, cause in CAUSES if text in lowered), "other")
