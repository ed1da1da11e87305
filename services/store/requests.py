"""Idempotency records: one per client request id, written with the request's events."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from services.store.backend import backend_of
from services.store.dialects import Query, driver_rows, fetch, is_postgres
from services.store.schema import requests

_STORED_PG = "SELECT request_id, body_hash FROM requests WHERE kind = %s AND request_id = ANY(%s::text[])"
# The ids go in the order given (WITH ORDINALITY): see `claim_many` on deadlocks. Parameters: kind,
# created_at, the ids and their hashes (two arrays). Also the first half of
# `event_log.claim_and_append`.
CLAIM_PG = (
    "INSERT INTO requests (kind, request_id, body_hash, created_at)"
    " SELECT %s, u.request_id, u.body_hash, %s"
    " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(request_id, body_hash, n) ORDER BY u.n"
    " ON CONFLICT DO NOTHING RETURNING request_id"
)


def stored_hash(conn: sa.Connection, kind: str, request_id: str) -> str | None:
    """The body hash recorded for this request id, or None when it is new."""
    return stored_hashes(conn, kind, [request_id]).get(request_id)


def stored_hashes(conn: sa.Connection, kind: str, request_ids: list[str]) -> dict[str, str]:
    """The body hashes recorded for those of `request_ids` that are recorded."""
    if not request_ids:
        return {}
    return fetch(conn, stored_hashes_query(kind, request_ids))


def stored_hashes_query(kind: str, request_ids: list[str]) -> Query[dict[str, str]]:
    """`stored_hashes` as a query, to be fetched with another (`dialects.fetch_together`)."""
    wanted = sorted(set(request_ids))

    def portable(conn: sa.Connection) -> dict[str, str]:
        query = sa.select(requests.c.request_id, requests.c.body_hash).where(
            requests.c.kind == kind, requests.c.request_id.in_(wanted)
        )
        return {row.request_id: row.body_hash for row in conn.execute(query)}

    return Query(_STORED_PG, (kind, wanted), dict, portable)


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
    now = datetime.now(UTC)
    ids = sorted(hashes)
    if is_postgres(conn):
        rows = driver_rows(conn, CLAIM_PG, (kind, now, ids, [hashes[i] for i in ids]))
        return {row[0] for row in rows}
    values = [{"kind": kind, "request_id": i, "body_hash": hashes[i], "created_at": now} for i in ids]
    return {row["request_id"] for row in backend_of(conn).insert_ignoring_conflicts(conn, requests, values)}
