"""The few statements PostgreSQL and SQLite spell differently, and the raw-driver path for the hot
PostgreSQL ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

T = TypeVar("T")
U = TypeVar("U")


def is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def driver_rows(
    conn: sa.Connection, query: str, params: Sequence[Any], *, commit: bool = False
) -> list[tuple[Any, ...]]:
    """Run one PostgreSQL statement straight through psycopg, in the caller's transaction.

    For the statements of the write path that run for every batch: SQLAlchemy Core costs about as
    much CPU per statement as the round trip itself, and a constant text (arrays bound with
    `= ANY(%s)`, never a list spelled out) lets psycopg prepare it once per connection. A failure
    is raised as `conn.execute` would raise it: wrapped in a DBAPIError, the connection invalidated
    if it was lost (SQLAlchemy's own handling of a failed execute).

    `commit` sends COMMIT in the same round trip (psycopg's pipeline mode), ending the caller's
    transaction; if the statement fails, the pipeline skips the COMMIT and the failure is raised.
    """
    driver = conn.connection.driver_connection
    try:
        if commit:
            with driver.pipeline():  # type: ignore[union-attr]
                cursor = driver.execute(query, params)  # type: ignore[union-attr]
                driver.commit()  # type: ignore[union-attr]
        else:
            cursor = driver.execute(query, params)  # type: ignore[union-attr]
        return cursor.fetchall() if cursor.description else []
    except Exception as exc:
        conn._handle_dbapi_exception(exc, query, params, None, None)


@dataclass(frozen=True)
class Query(Generic[T]):
    """A read of the write path, so that two can share one round trip (`fetch_together`).

    `text` and `params` are its PostgreSQL statement for the raw driver (see `driver_rows`) and
    `answer` turns its rows into the result; `portable` gets the same result through SQLAlchemy, on
    any database.
    """

    text: str
    params: tuple[Any, ...]
    answer: Callable[[list[tuple[Any, ...]]], T]
    portable: Callable[[sa.Connection], T]


def fetch(conn: sa.Connection, query: Query[T]) -> T:
    if not is_postgres(conn):
        return query.portable(conn)
    return query.answer(driver_rows(conn, query.text, query.params))


def fetch_together(conn: sa.Connection, first: Query[T], second: Query[U]) -> tuple[T, U]:
    """Both queries' results; on PostgreSQL in one round trip (psycopg's pipeline mode)."""
    if not is_postgres(conn):
        return first.portable(conn), second.portable(conn)
    driver = conn.connection.driver_connection
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            cursors = [driver.execute(q.text, q.params) for q in (first, second)]  # type: ignore[union-attr]
        rows = [cursor.fetchall() for cursor in cursors]
    except Exception as exc:
        conn._handle_dbapi_exception(exc, f"{first.text}; {second.text}", None, None, None)
    return first.answer(rows[0]), second.answer(rows[1])
