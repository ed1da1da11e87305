"""Place names in the log: an index on the PlaceNamesChanged events a read looks up.

A rename (`PATCH /v1/places/{id}`) is an event in the log, so every read answers with the names
as they stood at its read-model version (and at `known_at`), and a replay cannot lose one. The
read side looks them up per place among a handful of such events in a log of millions: a partial
index holds only those.

Revision ID: 0005_place_names
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_place_names"
down_revision = "0004"
branch_labels = None
depends_on = None

WHERE = sa.text("type = 'PlaceNamesChanged'")


def upgrade() -> None:
    op.create_index(
        "ix_events_place_names",
        "events",
        ["stream_id", "position"],
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_events_place_names", "events")
