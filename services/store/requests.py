"""Idempotency records: one per client request id, written with the request's events."""

from __future__ import annotations

import sqlalchemy as sa

from services.store.backend import backend_of


def stored_hash(conn: sa.Connection, kind: str, request_id: str) -> str | None:
    """The body hash recorded for this request id, or None when it is new."""
    return stored_hashes(conn, kind, [request_id]).get(request_id)


def stored_hashes(conn: sa.Connection, kind: str, request_ids: list[str]) -> dict[str, str]:
    """The body hashes recorded for those of `request_ids` that are recorded."""
    if not request_ids:
        return {}
    return backend_of(conn).stored_hashes(conn, kind, sorted(set(request_ids)))


def claim(conn: sa.Connection, kind: str, request_id: str, body_hash: str) -> bool:
    """Record the request id in the caller's transaction; False when it is already recorded."""
    return request_id in claim_many(conn, kind, {request_id: body_hash})


def claim_many(conn: sa.Connection, kind: str, hashes: dict[str, str]) -> set[str]:
    """Record request ids in the caller's transaction; returns those recorded now.

    An id another transaction has recorded but not committed makes this wait for that transaction,
    so of racing duplicates exactly one records it. Rows go in sorted order, so two transactions
    claiming overlapping sets cannot deadlock.
    """
    if not hashes:
        return set()
    return backend_of(conn).claim_requests(conn, kind, hashes)
