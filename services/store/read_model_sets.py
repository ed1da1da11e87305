"""Whole sets of read-model tables: create one under a suffix, swap it in, drop one.

How each backend does it is its own (`create_read_models`, `swap_read_models`...: on PostgreSQL
through the migration's SECURITY DEFINER functions, since the services' role may not create or
rename tables).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from services.store.backend import backend_of
from services.store.read_models import ReadModelTables, tables

RETIRED = re.compile(r"__old[0-9a-f]{8}$")


def create(conn: sa.Connection, suffix: str) -> ReadModelTables:
    """An empty set of read-model tables under `suffix` (dropping a leftover one), for writing in
    bulk: without primary keys and indexes (on PostgreSQL), so `index` it before anything reads it."""
    backend_of(conn).create_read_models(conn, suffix)
    return tables(suffix)


def index(conn: sa.Connection, suffix: str) -> None:
    """Give the set under `suffix` the live set's primary keys and indexes (and, on PostgreSQL,
    the planner's statistics), once its rows are in."""
    backend_of(conn).index_read_models(conn, suffix)


def drop(conn: sa.Connection, suffix: str) -> None:
    """Drop the set under `suffix`, whatever of it exists."""
    backend_of(conn).drop_read_models(conn, suffix)


def swap(conn: sa.Connection, suffix: str, retired: str) -> None:
    """Put the set under `suffix` in place of the live one, which takes the suffix `retired`.

    The caller holds the live tables exclusively (`lock_out_readers`).
    """
    backend_of(conn).swap_read_models(conn, suffix, retired)


def lock_out_readers(conn: sa.Connection, live: ReadModelTables) -> None:
    """Make readers of the `live` set wait until the caller's transaction ends."""
    backend_of(conn).lock_out_readers(conn, live.all)


def retired_suffixes(conn: sa.Connection) -> set[str]:
    """The suffixes of the sets a swap retired (`<table>__old<hex>`) still present."""
    found = (RETIRED.search(name) for name in sa.inspect(conn).get_table_names())
    return {match.group(0) for match in found if match}
