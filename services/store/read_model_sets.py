"""Whole sets of read-model tables: create one under a suffix, swap it in, drop one.

On PostgreSQL the services' role may not create or rename tables (migration 0007: CREATE on the
log's schema would let it plant functions), so these go through the migration's SECURITY DEFINER
functions, which copy the live set's definition and touch nothing but read-model tables. On
SQLite, where there are no roles, the tables are created from their SQLAlchemy description.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from services.store.read_models import ReadModelTables, tables

RETIRED = re.compile(r"__old[0-9a-f]{8}$")


def create(conn: sa.Connection, suffix: str) -> ReadModelTables:
    """An empty set of read-model tables under `suffix` (dropping a leftover one)."""
    built = tables(suffix)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT frontline_read_models_create(:suffix)"), {"suffix": suffix})
    else:
        built.metadata.drop_all(conn)
        built.metadata.create_all(conn)
    return built


def drop(conn: sa.Connection, suffix: str) -> None:
    """Drop the set under `suffix`, whatever of it exists."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT frontline_read_models_drop(:suffix)"), {"suffix": suffix})
    else:
        tables(suffix).metadata.drop_all(conn)


def swap(conn: sa.Connection, suffix: str, retired: str) -> None:
    """Put the set under `suffix` in place of the live one, which takes the suffix `retired`.

    The caller holds the live tables exclusively. On PostgreSQL the indexes and keys of the new
    set take the live names too (SQLite cannot rename an index; suffixed names are harmless there).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT frontline_read_models_swap(:suffix, :retired)"),
            {"suffix": suffix, "retired": retired},
        )
        return
    for live, built in zip(tables().all, tables(suffix).all, strict=True):
        conn.execute(sa.text(f'ALTER TABLE "{live.name}" RENAME TO "{live.name}{retired}"'))
        conn.execute(sa.text(f'ALTER TABLE "{built.name}" RENAME TO "{live.name}"'))


def retired_suffixes(conn: sa.Connection) -> set[str]:
    """The suffixes of the sets a swap retired (`<table>__old<hex>`) still present."""
    found = (RETIRED.search(name) for name in sa.inspect(conn).get_table_names())
    return {match.group(0) for match in found if match}
