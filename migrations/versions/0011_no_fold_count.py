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

A downgrade puts the column back, at 0: the code of the revision before cannot read the claim
rows written since, so run `frontline replay` after it.

Revision ID: 0011_no_fold_count
Revises: 0010_analyze_rebuilt
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_no_fold_count"
down_revision = "0010_analyze_rebuilt"
branch_labels = None
depends_on = None

COLUMN = "events_folded"


def upgrade() -> None:
    for table in _place_state_tables(with_column=True):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(COLUMN)


def downgrade() -> None:
    for table in _place_state_tables(with_column=False):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(COLUMN, sa.Integer(), nullable=False, server_default="0"))


def _place_state_tables(with_column: bool) -> list[str]:
    """The live `rm_place_state` and any suffixed copy of it, that have (or lack) the column."""
    inspector = sa.inspect(op.get_bind())
    return [
        name
        for name in inspector.get_table_names()
        if (name == "rm_place_state" or name.startswith("rm_place_state_"))
        and (COLUMN in {c["name"] for c in inspector.get_columns(name)}) == with_column
    ]
