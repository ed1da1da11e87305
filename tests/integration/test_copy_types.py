"""Binary COPY is told each table's column types, learnt once per connection (not before every
COPY): the same table name in two schemas may hold other types, and each connection gets its own."""

from __future__ import annotations

import sqlalchemy as sa

from services.store.database import Database
from tests.support.databases import postgres_schema

# SQLAlchemy's view of the table: the types COPY is told are the server's, asked of it.
COPIED = sa.Table("copied", sa.MetaData(), sa.Column("k", sa.Text), sa.Column("v", sa.Text))


def _database_with(url: str, value_type: str) -> Database:
    db = Database(url)
    with db.transaction() as conn:
        conn.execute(sa.text(f"CREATE TABLE copied (k text, v {value_type})"))
    return db


def _rows(db: Database) -> list[tuple[object, ...]]:
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT k, v FROM copied ORDER BY k"))]


def test_each_connection_copies_with_its_own_tables_types(postgres_server: str) -> None:
    with (
        postgres_schema(postgres_server, migrate=False) as numbers_url,
        postgres_schema(postgres_server, migrate=False) as words_url,
    ):
        numbers, words = _database_with(numbers_url, "bigint"), _database_with(words_url, "text")
        try:
            for n in range(3):  # the later COPYs on each connection use the types the first learnt
                with numbers.transaction() as conn:
                    numbers.backend.insert_rows(conn, COPIED, [(f"k{n}", 7 + n)])
                with words.transaction() as conn:
                    words.backend.insert_rows(conn, COPIED, [(f"k{n}", f"seven{n}")])
            assert _rows(numbers) == [("k0", 7), ("k1", 8), ("k2", 9)]
            assert _rows(words) == [("k0", "seven0"), ("k1", "seven1"), ("k2", "seven2")]
        finally:
            numbers.dispose()
            words.dispose()
