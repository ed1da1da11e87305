"""Opaque cursors: the sort key of the last item of a page, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import HTTPException

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode(cursor: str | None, shape: tuple[type, ...]) -> list[Any] | None:
    """The key in `cursor` (of the given element types); 400 for a cursor this API did not make."""
    if cursor is None:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        key = None
    if not _fits(key, shape):
        raise HTTPException(400, "the cursor is not one this API returned")
    return list(key)


def _fits(key: Any, shape: tuple[type, ...]) -> bool:
    return (
        isinstance(key, list)
        and len(key) == len(shape)
        and all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(key, shape, strict=True))
    )


def page(items: list[dict[str, Any]], limit: int, key: Any) -> dict[str, Any]:
    """`items` holds up to limit + 1 entries: the extra one says there is a next page."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode(key(items[-1])) if more and items else None}
