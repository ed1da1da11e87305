"""The services' own database role: what they need, and no UPDATE, DELETE or TRUNCATE on the log.

In production the services should not connect as the role that owns the tables: an owner can
drop triggers and grant itself anything back. When a separate role is configured, with
DATABASE_APP_ROLE (read by `frontline migrate` from the environment) or `alembic -x app_role=NAME`,
this migration, run by the owning role:

- grants it SELECT and INSERT on `events` and REVOKEs UPDATE, DELETE and TRUNCATE on it, so the
  database refuses them as "permission denied" before the immutability triggers are even reached;
- grants it SELECT, INSERT, UPDATE and DELETE on the other tables (registries, idempotency records,
  checkpoints, replays), read-only access to `alembic_version` (for /readyz), its sequences, and the
  same on tables later migrations create (default privileges);
- makes it the owner of the read-model tables, which a replay renames and drops when it swaps in a
  rebuilt set (the tables it builds are its own anyway), and lets it create tables in the schema.

The role must exist (see deploy/postgres-init/ for the compose stack), must not be a superuser nor
the migrating role, and the migrating role must be a member of it or a superuser (to hand over
ownership). Unconfigured, or on SQLite, nothing changes. To apply it to a database already past this
revision: `alembic -x app_role=NAME downgrade 0003 && alembic -x app_role=NAME upgrade head`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from services.config import Settings

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The read models as this revision knows them (a migration must not follow later code).
READ_MODELS = ("rm_place_state", "rm_holdings", "rm_claims", "rm_claim_places")


def app_role() -> str | None:
    given = context.get_x_argument(as_dictionary=True).get("app_role")
    return given or Settings().database_app_role


def upgrade() -> None:
    role = app_role()
    bind = op.get_bind()
    if role is None or bind.dialect.name != "postgresql":
        return
    _check(bind, role)
    schema, grantee = _quoted(bind, role)
    defaults = f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
    for statement in [
        f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {grantee}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {grantee}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {grantee}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {grantee}",
        f"{defaults} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {grantee}",
        f"{defaults} GRANT USAGE, SELECT ON SEQUENCES TO {grantee}",
        *(f"ALTER TABLE {table} OWNER TO {grantee}" for table in READ_MODELS),
    ]:
        op.execute(statement)


def downgrade() -> None:
    role = app_role()
    bind = op.get_bind()
    if role is None or bind.dialect.name != "postgresql":
        return
    schema, grantee = _quoted(bind, role)
    defaults = f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
    for statement in [
        *(f"ALTER TABLE {table} OWNER TO CURRENT_USER" for table in READ_MODELS),
        f"{defaults} REVOKE ALL ON SEQUENCES FROM {grantee}",
        f"{defaults} REVOKE ALL ON TABLES FROM {grantee}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {grantee}",
        f"REVOKE ALL ON SCHEMA {schema} FROM {grantee}",
    ]:
        op.execute(statement)


def _check(bind: sa.Connection, role: str) -> None:
    found = bind.execute(
        sa.text("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).first()
    if found is None:
        raise RuntimeError(
            f"DATABASE_APP_ROLE: there is no role {role!r}; create it first "
            f"(CREATE ROLE {role} LOGIN PASSWORD '...') or unset the variable"
        )
    superuser, migrating = found
    if superuser or migrating:
        why = "is a superuser, whom privileges do not bind" if superuser else "is the role migrating"
        raise RuntimeError(f"DATABASE_APP_ROLE: role {role!r} {why}: name the services' own role")


def _quoted(bind: sa.Connection, role: str) -> tuple[str, str]:
    quote = bind.dialect.identifier_preparer.quote_identifier
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return quote(schema), quote(role)
