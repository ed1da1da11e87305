"""Store errors: what the store raises instead of driver exceptions."""

from __future__ import annotations

from typing import Literal

# Why a database could not be used, as far as the store can tell from the driver's error.
Cause = Literal["refused", "login", "no-database", "unknown-host", "timeout", "file", "other"]


class StoreError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the connection; retrying later may succeed.

    `backend` ("PostgreSQL", "SQLite") and `where` (host:port/database, or the file) name the
    database without its password; `reason` is the driver's cause in one line.
    """

    def __init__(
        self, reason: str, *, backend: str = "the database", where: str = "", cause: Cause = "other"
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.backend = backend
        self.where = where
        self.cause: Cause = cause


class NotMigrated(StoreUnavailable):
    """A table the code needs is missing: the database was never migrated (`frontline migrate`).

    A kind of StoreUnavailable: a request that meets it is answered 503, like one that finds the
    database down (a SQLite reader can also meet it for an instant while a replay swaps tables).
    """

    def __init__(self, table: str, *, backend: str = "the database", where: str = "") -> None:
        super().__init__(f"no table {table!r}: the database is not migrated", backend=backend, where=where)
        self.table = table


class Conflict(StoreError):
    """A write clashes with what is stored (an id or name already taken)."""


class NotFound(StoreError):
    """The thing asked for is not stored."""
