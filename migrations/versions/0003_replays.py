"""Replays: operators rebuild the read models from the log while the live ones keep serving.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("replay_id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),  # queued | running | done | failed
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
    )
    op.create_index("ix_replays_requested_at", "replays", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_replays_requested_at", "replays")
    op.drop_table("replays")
