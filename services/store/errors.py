"""Store errors: what the store raises instead of driver exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the connection; retrying later may succeed."""


class Conflict(StoreError):
    """A write clashes with what is stored (an id or name already taken)."""


class NotFound(StoreError):
    """The thing asked for is not stored."""
