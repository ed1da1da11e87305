"""The read-model tables: plain tables shaped for the answers the API gives.

Every table here can be dropped and rebuilt from the log. A replay builds a complete new set under a
suffix (`rm_place_state__r7`...) while the live set keeps serving, then swaps them in one transaction;
`tables(suffix)` describes either set.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa

from services.store.types import JSONType, UTCDateTime

PROJECTION = "control"  # the name of the projection that maintains these tables


@dataclass(frozen=True)
class ReadModelTables:
    metadata: sa.MetaData
    place_state: sa.Table
    holdings: sa.Table
    claims: sa.Table
    claim_places: sa.Table

    @property
    def all(self) -> tuple[sa.Table, ...]:
        return (self.place_state, self.holdings, self.claims, self.claim_places)


@cache
def tables(suffix: str = "") -> ReadModelTables:
    """The read-model tables; `suffix` names a set being rebuilt by a replay."""
    md = sa.MetaData()
    made = (make(md, suffix) for make in (_place_state, _holdings, _claims, _claim_places))
    return ReadModelTables(md, *made)


# One row per place that a claim, a registration or a rename touched: its current control
# (EMPTY when it has no effective claim).
def _place_state(md: sa.MetaData, suffix: str) -> sa.Table:
    return sa.Table(
        f"rm_place_state{suffix}",
        md,
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("holdings", JSONType, nullable=False),
        sa.Column("challenger_share", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.String(40)),
        sa.Column("last_event_id", sa.String(36)),
        sa.Column("last_start", UTCDateTime()),  # order key of the last claim folded in:
        sa.Column("last_position", sa.BigInteger()),  # a claim after it applies incrementally
        sa.Column("updated_position", sa.BigInteger(), nullable=False),  # last event touching it
        sa.Index(f"ix_rm_place_state_status{suffix}", "status", "challenger_share"),
        sa.Index(f"ix_rm_place_state_updated{suffix}", "updated_position"),
    )


# Who holds what, one row per (place, holder): actor territory and the `actor` filter.
def _holdings(md: sa.MetaData, suffix: str) -> sa.Table:
    return sa.Table(
        f"rm_holdings{suffix}",
        md,
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("actor_id", sa.String(200), primary_key=True),
        sa.Column("share", sa.Integer(), nullable=False),
        sa.Column("since", sa.String(40), nullable=False),
        sa.Index(f"ix_rm_holdings_actor{suffix}", "actor_id"),
    )


# The timeline: every claim event with its effective fields, corrections and retraction.
def _claims(md: sa.MetaData, suffix: str) -> sa.Table:
    return sa.Table(
        f"rm_claims{suffix}",
        md,
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
        # The claim's fields before its first correction (NULL: never corrected).
        sa.Column("original", JSONType),
        sa.Column("corrections", JSONType, nullable=False),
        sa.Column("retraction", JSONType),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        # The place's control right after this claim (NULL when retracted): a late claim re-folds
        # its place from the claim before it, not from the beginning, and `as_of` is one lookup.
        sa.Column("state_after", JSONType),
        sa.Index(f"ix_rm_claims_place_order{suffix}", "place_id", "occurred_start", "position"),
    )


# Every place a claim has belonged to, before and after corrections: what `known_at` needs
# to find the claims a place had at an earlier transaction time.
def _claim_places(md: sa.MetaData, suffix: str) -> sa.Table:
    return sa.Table(
        f"rm_claim_places{suffix}",
        md,
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
    )


# Checkpoints: one row per projection (and per replay build in progress).
checkpoint_metadata = sa.MetaData()
projections = sa.Table(
    "projections",
    checkpoint_metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger(), nullable=False),
    sa.Column("generation", sa.Integer(), nullable=False),  # bumped by every replay swap
    sa.Column("status", sa.String(12), nullable=False),  # running | failed
    sa.Column("error", sa.Text()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Replays: each rebuild of the read models an operator asked for, and how far it has got.
replays = sa.Table(
    "replays",
    checkpoint_metadata,
    sa.Column("replay_id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(12), nullable=False),  # queued | running | done | failed
    sa.Column("processed", sa.BigInteger(), nullable=False),
    sa.Column("total", sa.BigInteger(), nullable=False),
    sa.Column("error", sa.Text()),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Index("ix_replays_requested_at", "requested_at"),
    # At most one replay queued or running (migration 0008): all active ones share the key 1.
    sa.Index(
        "uq_replays_active",
        sa.text("(1)"),
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
        sqlite_where=sa.text("status IN ('queued', 'running')"),
    ),
)
