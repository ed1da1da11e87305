"""Naming a database to a person: which server or file, never the password."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa


def backend(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


def where(url: str) -> str:
    """`host:port/database` of a PostgreSQL URL, or the absolute path of a SQLite file."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        return database if database == ":memory:" else str(Path(database).resolve())
    host = parsed.host or "localhost"
    return f"{host}:{parsed.port or 5432}/{parsed.database or ''}"


def display(url: str) -> str:
    """The URL as a log line or a terminal may show it: the password replaced by ***."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {where(url)}"
    return f"PostgreSQL {parsed.render_as_string(hide_password=True)}"
