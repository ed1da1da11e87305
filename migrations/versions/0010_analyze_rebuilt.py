"""A replay's rebuilt read models are analyzed before they are swapped in.

Why. Until the planner has statistics on a table it guesses from the table's size, and a set of
tables a replay built has none until autovacuum's next look (never, where autovacuum is off): the
read API's change-feed query then scanned every place at every step (docs/performance-notes.md,
eighth stop). ANALYZE must be run by the tables' owner, or PostgreSQL skips them with a warning;
under `DATABASE_APP_ROLE` the owner is the migrating role (0007, 0009), so the app role analyzes
through this SECURITY DEFINER function: `frontline_read_models_analyze(suffix)`, for the four
read-model tables under a checked suffix and nothing else.

On SQLite nothing changes (no functions; its planner needs no statistics to use an index).

Revision ID: 0010_analyze_rebuilt
Revises: 0009_bulk_build
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from services.config import Settings

revision = "0010_analyze_rebuilt"
down_revision = "0009_bulk_build"
branch_labels = None
depends_on = None

# The read models as this revision knows them (a migration must not follow later code).
READ_MODELS = ("rm_place_state", "rm_holdings", "rm_claims", "rm_claim_places")

FUNCTION = r"""
-- The planner's statistics for the set of read-model tables under `suffix`.
CREATE FUNCTION {s}.frontline_read_models_analyze(suffix text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text;
BEGIN
    PERFORM {s}.frontline_read_models_check(suffix);
    FOREACH base IN ARRAY ARRAY[{bases}] LOOP
        EXECUTE pg_catalog.format('ANALYZE %I.%I', '{s}', base || suffix);
    END LOOP;
END $$;
"""

SIGNATURE = "frontline_read_models_analyze(text)"


def app_role() -> str | None:
    given = context.get_x_argument(as_dictionary=True).get("app_role")
    return given or Settings().database_app_role


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema, role = _quoted(bind, app_role())
    bases = ", ".join(f"'{name}'" for name in READ_MODELS)
    text = FUNCTION.replace("{bases}", bases).replace("{s}", schema)
    op.execute(text.replace("'" + schema + "'", f"'{_unquoted(schema)}'"))
    op.execute(f"REVOKE ALL ON FUNCTION {schema}.{SIGNATURE} FROM PUBLIC")
    if role is not None:
        op.execute(f"GRANT EXECUTE ON FUNCTION {schema}.{SIGNATURE} TO {role}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema, _ = _quoted(bind, app_role())
    op.execute(f"DROP FUNCTION {schema}.{SIGNATURE}")


def _quoted(bind: sa.Connection, role: str | None) -> tuple[str, str | None]:
    quote = bind.dialect.identifier_preparer.quote_identifier
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return quote(schema), quote(role) if role else None


def _unquoted(identifier: str) -> str:
    return identifier[1:-1].replace('""', '"') if identifier.startswith('"') else identifier
