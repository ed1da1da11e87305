"""A rebuilt set of read-model tables is indexed after its rows are written, not while.

Why. A replay (and `frontline verify`) folds the whole log and writes every claim row in one COPY
(services/projector/rebuild.py). Into tables that already have their primary key and indexes,
PostgreSQL maintains both row by row: 22.9 s for the 1,000,000 claim rows of the bench corpus,
against 8.0 s into bare tables and 4.3 s to build the key and the index afterwards, in bulk.

So a set can be created in two steps, by two SECURITY DEFINER functions as guarded as
0007_hardening's `frontline_read_models_create` (a checked suffix, only the four read-model tables,
definitions copied from the live set): `frontline_read_models_create_bare(suffix)` makes the tables
with their columns, defaults, constraints and grants but no primary key or index;
`frontline_read_models_index(suffix)` gives them the live set's primary keys and indexes. (0007's
function, both at once, stays as it was.)

On SQLite nothing changes (no functions; a rebuilt set is created indexed there).

Revision ID: 0009_bulk_build
Revises: 0008_one_replay
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from services.config import Settings

revision = "0009_bulk_build"
down_revision = "0008_one_replay"
branch_labels = None
depends_on = None

# The read models as this revision knows them (a migration must not follow later code).
READ_MODELS = ("rm_place_state", "rm_holdings", "rm_claims", "rm_claim_places")

FUNCTIONS = r"""
-- A new, empty set of read-model tables under `suffix`, with the live set's columns, defaults and
-- constraints, but no primary key or index yet (see frontline_read_models_index).
CREATE FUNCTION {s}.frontline_read_models_create_bare(suffix text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text;
BEGIN
    PERFORM {s}.frontline_read_models_check(suffix);
    FOREACH base IN ARRAY ARRAY[{bases}] LOOP
        EXECUTE pg_catalog.format('DROP TABLE IF EXISTS %I.%I', '{s}', base || suffix);
        EXECUTE pg_catalog.format(
            'CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
            '{s}', base || suffix, '{s}', base);{grant}
    END LOOP;
END $$;

-- The live set's primary keys and indexes on the set under `suffix`, named as the live ones plus
-- the suffix.
CREATE FUNCTION {s}.frontline_read_models_index(suffix text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text;
    ix record;
BEGIN
    PERFORM {s}.frontline_read_models_check(suffix);
    FOREACH base IN ARRAY ARRAY[{bases}] LOOP
        FOR ix IN SELECT * FROM {s}.frontline_read_models_indexes(base) LOOP
            IF ix.is_primary THEN
                EXECUTE pg_catalog.format(
                    'ALTER TABLE %I.%I ADD CONSTRAINT %I PRIMARY KEY %s', '{s}', base || suffix,
                    base || suffix || '_pkey', pg_catalog.substring(ix.definition, ' USING btree (\(.*\))$'));
            ELSE
                EXECUTE pg_catalog.format(
                    'CREATE %s INDEX %I ON %I.%I %s', CASE WHEN ix.is_unique THEN 'UNIQUE' ELSE '' END,
                    ix.name || suffix, '{s}', base || suffix,
                    pg_catalog.substring(ix.definition, ' USING .*$'));
            END IF;
        END LOOP;
    END LOOP;
END $$;
"""

NEW = ("frontline_read_models_create_bare(text)", "frontline_read_models_index(text)")


def app_role() -> str | None:
    given = context.get_x_argument(as_dictionary=True).get("app_role")
    return given or Settings().database_app_role


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema, role = _quoted(bind, app_role())
    op.execute(_functions(FUNCTIONS, schema, role))
    for function in NEW:
        op.execute(f"REVOKE ALL ON FUNCTION {schema}.{function} FROM PUBLIC")
        if role is not None:
            op.execute(f"GRANT EXECUTE ON FUNCTION {schema}.{function} TO {role}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema, _ = _quoted(bind, app_role())
    for function in NEW:
        op.execute(f"DROP FUNCTION {schema}.{function}")


def _functions(text: str, schema: str, role: str | None) -> str:
    grant = (
        ""
        if role is None
        else "\n        EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', "
        f"'{_unquoted(schema)}', base || suffix, '{_unquoted(role)}');"
    )
    bases = ", ".join(f"'{name}'" for name in READ_MODELS)
    text = text.replace("{grant}", grant).replace("{bases}", bases)
    return text.replace("{s}", schema).replace("'" + schema + "'", f"'{_unquoted(schema)}'")


def _quoted(bind: sa.Connection, role: str | None) -> tuple[str, str | None]:
    quote = bind.dialect.identifier_preparer.quote_identifier
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return quote(schema), quote(role) if role else None


def _unquoted(identifier: str) -> str:
    return identifier[1:-1].replace('""', '"') if identifier.startswith('"') else identifier
