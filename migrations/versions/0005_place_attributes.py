"""Place attributes: what a source knows about a place beyond its name and location.

An ACLED import keeps ACLED's administrative units (`admin1`..`admin3`) on the places its rows
create, so an analyst can tell two new places of one name apart and group them by province. JSON,
since sources name different things; NULL for a place nobody said more about.

Revision ID: 0005_place_attributes
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.store.types import JSONType

revision = "0005_place_attributes"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("places", sa.Column("attributes", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("places") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("attributes")
