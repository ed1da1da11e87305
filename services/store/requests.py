"""Idempotency records: one per client request id, written with the request's events."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from services.store.dialects import insert_ignoring_conflicts
from services.store.schema import requests


def stored_hash(conn: sa.Connection, kind: str, request_id: str) -> str | None:
    """The body hash recorded for this request id, or None when it is new."""
    query = sa.select(requests.c.body_hash).where(
        requests.c.kind == kind, requests.c.request_id == request_id
    )
    return conn.execute(query).scalar_one_or_none()


def claim(conn: sa.Connection, kind: str, request_id: str, body_hash: str) -> bool:
    """Record the request id in the caller's transaction; False when it is already recorded.

    A concurrent transaction recording the same id makes this wait for its outcome, so of many
    racing duplicates exactly one gets True.
    """
    row = {
        "kind": kind,
        "request_id": request_id,
        "body_hash": body_hash,
        "created_at": datetime.now(UTC),
    }
    return insert_ignoring_conflicts(conn, requests, [row]) == 1
