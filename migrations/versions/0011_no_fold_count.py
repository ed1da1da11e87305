"""The places' read model no longer counts the claims folded into each place.

Why. Every state a claim's row stored (`state_after`) counted the claims folded up to it, so a
late claim changed the count in the state of every later claim of its place, and the projector
read and rewrote the place's whole later history for it, even where the late claim's effect had
long been overtaken (a later claim to the whole place, say). No answer showed the count. Without
it the states after a late claim come back to the stored ones, mostly within a few claims, and
the projector stops there (services/projector/batch.py; docs/performance-notes.md, fifteenth stop).

The column goes from `rm_place_state` and from any set of read models a replay left under a
suffix: a replay's build copies the live set's definition anew, but one begun before this
revision could otherwise be swapped in with the column. Claim rows keep the count they were
written with; the projector reads it and writes the new form (services/store/control_rows.py).

A downgrade puts the column back, at 0, and leads every claim row's state with a count of 0, in
the form the revision before reads: the counts are wrong until an admin replay run by that
version rebuilds them (no answer shows them).

Revision ID: 0011_no_fold_count
Revises: 0010_analyze_rebuilt
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0011_no_fold_count"
down_revision = "0010_analyze_rebuilt"
branch_labels = None
depends_on = None

COLUMN = "events_folded"


# A claim row's state in the form before this revision: its count first (the new form is
# [changed_at, holdings]; the first, spelled-out form is an object, left as it is).
COUNTED = {
    "postgresql": "UPDATE {t} SET state_after = '[0]'::jsonb || state_after "
    "WHERE jsonb_typeof(state_after) = 'array' AND jsonb_array_length(state_after) = 2",
    "sqlite": "UPDATE {t} SET state_after = '[0,' || substr(state_after, 2) "
    "WHERE json_type(state_after) = 'array' AND json_array_length(state_after) = 2",
}


def upgrade() -> None:
    for table in _tables("rm_place_state", lambda columns: COLUMN in columns):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(COLUMN)


def downgrade() -> None:
    for table in _tables("rm_place_state", lambda columns: COLUMN not in columns):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(COLUMN, sa.Integer(), nullable=False, server_default="0"))
        with op.batch_alter_table(table) as batch:
            batch.alter_column(COLUMN, server_default=None)  # as revision 0002 made it
    statement = COUNTED[op.get_bind().dialect.name]
    for table in _tables("rm_claims", lambda columns: "state_after" in columns):
        op.execute(statement.format(t=op.get_bind().dialect.identifier_preparer.quote(table)))


def _tables(base: str, wanted: Callable[[set[str]], bool]) -> list[str]:
    """The live read-model table `base` and its copies under a set's suffix (`__...`, as
    migration 0007 checks them), those whose columns are `wanted`."""
    inspector = sa.inspect(op.get_bind())
    return [
        name
        for name in inspector.get_table_names()
        if (name == base or name.startswith(base + "__"))
        and wanted({c["name"] for c in inspector.get_columns(name)})
    ]
