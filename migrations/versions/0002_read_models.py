"""Read models of the control projection, and projection checkpoints.

Everything here can be dropped and rebuilt from the log by a replay.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.store.types import JSONType, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rm_place_state",
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("holdings", JSONType, nullable=False),
        sa.Column("challenger_share", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.String(40)),
        sa.Column("last_event_id", sa.String(36)),
        sa.Column("last_start", UTCDateTime()),
        sa.Column("last_position", sa.BigInteger()),
        sa.Column("events_folded", sa.Integer(), nullable=False),
        sa.Column("updated_position", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rm_place_state_status", "rm_place_state", ["status", "challenger_share"])
    op.create_index("ix_rm_place_state_updated", "rm_place_state", ["updated_position"])
    op.create_table(
        "rm_holdings",
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("actor_id", sa.String(200), primary_key=True),
        sa.Column("share", sa.Integer(), nullable=False),
        sa.Column("since", sa.String(40), nullable=False),
    )
    op.create_index("ix_rm_holdings_actor", "rm_holdings", ["actor_id"])
    op.create_table(
        "rm_claims",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("place_id", sa.String(200), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("share", sa.Integer(), nullable=False),
        sa.Column("from_actor_id", sa.String(200)),
        sa.Column("occurred_at", sa.String(40), nullable=False),
        sa.Column("occurred_start", UTCDateTime(), nullable=False),
        sa.Column("supporting_actor_ids", JSONType, nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("report_id", sa.String(500)),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("original", JSONType),
        sa.Column("corrections", JSONType, nullable=False),
        sa.Column("retraction", JSONType),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        sa.Column("state_after", JSONType),
    )
    op.create_index("ix_rm_claims_place_order", "rm_claims", ["place_id", "occurred_start", "position"])
    op.create_table(
        "rm_claim_places",
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
    )
    op.create_table(
        "projections",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("projections", "rm_claim_places", "rm_claims", "rm_holdings", "rm_place_state"):
        op.drop_table(table)
