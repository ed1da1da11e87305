"""Hardening: functions that cannot be steered by search_path, no CREATE for the services' role,
and no more privilege than each service uses.

Why. The position trigger ran with the search_path of the migration (in production `"$user",
public`) and called `nextval('events_position_seq')` unqualified; the services' role had CREATE
on that schema, so `CREATE FUNCTION public.nextval(text)` by it decided the position of every
later insert (including one a reader had already paged past), and ran as the owner whenever the
owner inserted. Now:

1. Every function this schema defines runs with `search_path = pg_catalog, pg_temp` and names
   what it uses with its schema (the schema this migration runs in), so no object anyone creates
   anywhere changes what it calls.
2. The services' role (DATABASE_APP_ROLE) loses CREATE on the schema (PUBLIC too: before
   PostgreSQL 15 everyone could create in `public`). A replay still builds, swaps and drops
   whole sets of read-model tables, which needs CREATE: it does so through three SECURITY
   DEFINER functions (`frontline_read_models_create/_swap/_drop`) that only ever touch the four
   read-model tables under a suffix they check, and copy the live tables' definitions (columns,
   primary key, indexes), so they cannot be made to create anything else. The read-model tables
   go back to the owner; the role keeps SELECT, INSERT, UPDATE, DELETE on them.
3. What the services do with each table, and all the role keeps:
   events, requests (idempotency), places, place_names, actors: SELECT, INSERT (records are
   only ever added; a rename is an event), and UPDATE of `places.attributes` where that column
   exists (an import adds a source's attributes to a place). projections: SELECT, INSERT, UPDATE, DELETE: the
   projector advances its checkpoint (UPDATE, and SELECT ... FOR UPDATE to serialise batches),
   a replay adds and deletes the checkpoint of the set it builds. replays: SELECT, INSERT,
   UPDATE. alembic_version: SELECT (for /readyz). The position sequence: USAGE (the trigger
   runs as the inserting role), no UPDATE (so no setval).

Unconfigured (no DATABASE_APP_ROLE), (1) and the functions of (2) still apply; on SQLite nothing
changes.

Revision ID: 0007_hardening
Revises: 0006_place_names
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from services.config import Settings

revision = "0007_hardening"
down_revision = "0006_place_names"
branch_labels = None
depends_on = None

# The read models as this revision knows them (a migration must not follow later code).
READ_MODELS = ("rm_place_state", "rm_holdings", "rm_claims", "rm_claim_places")
ADD_ONLY = ("events", "requests", "places", "place_names", "actors")
# What a set's suffix may be: a replay's build (`__r` + 10 hex), `frontline verify`'s (`__verify` +
# 8), a retired set (`__old` + 8), a test's scratch set: two underscores, then a short identifier.
SUFFIX = r"^__[a-z][a-z0-9_]{0,30}$"

TRIGGERS = """
CREATE OR REPLACE FUNCTION {s}.events_sequence() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- One lock for every writer of this table (keyed by its oid), held to commit: positions are
    -- drawn in commit order. VOLATILE makes each query below see commits made while we waited.
    PERFORM pg_catalog.pg_advisory_xact_lock(7340032000000 + TG_RELID::bigint);
    NEW.position := pg_catalog.nextval('{s}.events_position_seq'::pg_catalog.regclass);
    NEW.recorded_at := pg_catalog.clock_timestamp();
    NEW.stream_version := coalesce(
        (SELECT pg_catalog.max(e.stream_version) FROM {s}.events e WHERE e.stream_id = NEW.stream_id), 0) + 1;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION {s}.events_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'append a ClaimCorrected or ClaimRetracted event instead';
END $$;
"""

# The 0001 bodies, for the downgrade.
OLD_TRIGGERS = """
CREATE OR REPLACE FUNCTION {s}.events_sequence() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7340032000000 + TG_RELID::bigint);
    NEW.position := nextval('events_position_seq');
    NEW.recorded_at := clock_timestamp();
    NEW.stream_version := coalesce(
        (SELECT max(e.stream_version) FROM events e WHERE e.stream_id = NEW.stream_id), 0) + 1;
    RETURN NEW;
END $$;
ALTER FUNCTION {s}.events_sequence() SET search_path FROM CURRENT;
ALTER FUNCTION {s}.events_refuse_change() RESET search_path;
"""

READ_MODEL_FUNCTIONS = r"""
CREATE FUNCTION {s}.frontline_read_models_check(suffix text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF suffix IS NULL OR suffix !~ '{suffix}' THEN
        RAISE EXCEPTION 'not a read-model set suffix: %', suffix
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- The indexes of a table, its primary key's first (operators resolve in pg_catalog only).
CREATE FUNCTION {s}.frontline_read_models_indexes(tbl text)
RETURNS TABLE (name name, is_primary boolean, is_unique boolean, definition text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname, i.indisprimary, i.indisunique, pg_catalog.pg_get_indexdef(i.indexrelid)
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = pg_catalog.format('%I.%I', '{s}', tbl)::pg_catalog.regclass
     ORDER BY i.indisprimary DESC, c.relname
$$;

-- A new, empty set of read-model tables under `suffix`, defined as the live set is: columns,
-- primary key and indexes, named as the live ones plus the suffix.
CREATE FUNCTION {s}.frontline_read_models_create(suffix text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text;
    ix record;
BEGIN
    PERFORM {s}.frontline_read_models_check(suffix);
    FOREACH base IN ARRAY ARRAY[{bases}] LOOP
        EXECUTE pg_catalog.format('DROP TABLE IF EXISTS %I.%I', '{s}', base || suffix);
        EXECUTE pg_catalog.format(
            'CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
            '{s}', base || suffix, '{s}', base);
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
        END LOOP;{grant}
    END LOOP;
END $$;

-- The set under `suffix` in place of the live set (whose tables, indexes and keys take the
-- suffix `retired`), in the caller's transaction.
CREATE FUNCTION {s}.frontline_read_models_swap(suffix text, retired text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text;
    ix record;
BEGIN
    PERFORM {s}.frontline_read_models_check(suffix);
    PERFORM {s}.frontline_read_models_check(retired);
    FOREACH base IN ARRAY ARRAY[{bases}] LOOP
        FOR ix IN SELECT * FROM {s}.frontline_read_models_indexes(base) WHERE NOT is_primary LOOP
            EXECUTE pg_catalog.format('ALTER INDEX %I.%I RENAME TO %I', '{s}', ix.name, ix.name || retired);
        END LOOP;
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I RENAME CONSTRAINT %I TO %I', '{s}', base,
            base || '_pkey', base || '_pkey' || retired);
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I RENAME TO %I', '{s}', base, base || retired);
        FOR ix IN SELECT * FROM {s}.frontline_read_models_indexes(base || suffix) WHERE NOT is_primary LOOP
            EXECUTE pg_catalog.format('ALTER INDEX %I.%I RENAME TO %I', '{s}', ix.name,
                pg_catalog.left(ix.name, pg_catalog.length(ix.name) - pg_catalog.length(suffix)));
        END LOOP;
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I RENAME CONSTRAINT %I TO %I', '{s}', base || suffix,
            base || suffix || '_pkey', base || '_pkey');
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I RENAME TO %I', '{s}', base || suffix, base);
    END LOOP;
END $$;

-- Drop the set under `suffix` (a build, or a retired set), whatever of it exists.
CREATE FUNCTION {s}.frontline_read_models_drop(suffix text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text;
BEGIN
    PERFORM {s}.frontline_read_models_check(suffix);
    FOREACH base IN ARRAY ARRAY[{bases}] LOOP
        EXECUTE pg_catalog.format('DROP TABLE IF EXISTS %I.%I', '{s}', base || suffix);
    END LOOP;
END $$;
"""

FUNCTIONS = ("frontline_read_models_create(text)", "frontline_read_models_swap(text, text)")
FUNCTIONS += ("frontline_read_models_drop(text)",)


def app_role() -> str | None:
    given = context.get_x_argument(as_dictionary=True).get("app_role")
    return given or Settings().database_app_role


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema, role = _quoted(bind, app_role())
    op.execute(TRIGGERS.format(s=schema))
    op.execute(_read_model_functions(schema, role))
    for function in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {schema}.{function} FROM PUBLIC")
        if role is not None:
            op.execute(f"GRANT EXECUTE ON FUNCTION {schema}.{function} TO {role}")
    op.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC")
    if role is not None:
        for statement in _least_privilege(schema, role):
            op.execute(statement)
        if _has_column(bind, "places", "attributes"):
            # An import keeps a source's attributes on the places it records (migration
            # 0005_place_attributes): that column, and only it, may change.
            op.execute(f"GRANT UPDATE (attributes) ON places TO {role}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema, role = _quoted(bind, app_role())
    if role is not None:
        op.execute(f"GRANT CREATE ON SCHEMA {schema} TO {role}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {role}")
        op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}")
        for table in READ_MODELS:
            op.execute(f"ALTER TABLE {table} OWNER TO {role}")
    for function in (*FUNCTIONS, "frontline_read_models_indexes(text)", "frontline_read_models_check(text)"):
        op.execute(f"DROP FUNCTION {schema}.{function}")
    op.execute(OLD_TRIGGERS.format(s=schema))


def _read_model_functions(schema: str, role: str | None) -> str:
    grant = (
        ""
        if role is None
        else "\n        EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', "
        f"'{_unquoted(schema)}', base || suffix, '{_unquoted(role)}');"
    )
    bases = ", ".join(f"'{name}'" for name in READ_MODELS)
    text = READ_MODEL_FUNCTIONS.replace("{grant}", grant).replace("{bases}", bases)
    return (
        text.replace("{suffix}", SUFFIX)
        .replace("{s}", schema)
        .replace("'" + schema + "'", f"'{_unquoted(schema)}'")
    )


def _least_privilege(schema: str, role: str) -> list[str]:
    return [
        f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
        *(f"ALTER TABLE {table} OWNER TO CURRENT_USER" for table in READ_MODELS),
        *(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}" for table in READ_MODELS),
        *(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role}" for table in ADD_ONLY),
        f"REVOKE DELETE, TRUNCATE ON replays FROM {role}",
        f"REVOKE TRUNCATE ON projections FROM {role}",
        f"REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
    ]


def _has_column(bind: sa.Connection, table: str, column: str) -> bool:
    return any(c["name"] == column for c in sa.inspect(bind).get_columns(table))


def _quoted(bind: sa.Connection, role: str | None) -> tuple[str, str | None]:
    quote = bind.dialect.identifier_preparer.quote_identifier
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return quote(schema), quote(role) if role else None


def _unquoted(identifier: str) -> str:
    return identifier[1:-1].replace('""', '"') if identifier.startswith('"') else identifier
