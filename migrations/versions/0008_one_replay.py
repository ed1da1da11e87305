"""One replay at a time, held by the database: a unique index over the replays that are active.

Why. `POST /v1/admin/replay` (and `frontline replay`) look for a queued or running replay and
create one when there is none. Under READ COMMITTED two requests could both find none and create
one each: two rebuilds at once, each swapping its set in. Every active replay now has the same
key in a unique partial index, so a second insert fails (the loser answers with the winner's
replay, see store/replays.start), whatever client inserts.

A replay left active twice by the old code would stop the index being built: all but the one the
services saw as active (the oldest requested) are failed first.

Revision ID: 0008_one_replay
Revises: 0007_hardening
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0008_one_replay"
down_revision = "0007_hardening"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'running')")

replays = sa.table(
    "replays",
    sa.column("replay_id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("error", sa.Text()),
    sa.column("requested_at", UTCDateTime()),
    sa.column("finished_at", UTCDateTime()),
)


def upgrade() -> None:
    _fail_all_active_but_the_oldest()
    # Indexed on a constant: every active replay has the same key, so there is at most one.
    op.create_index(
        "uq_replays_active",
        "replays",
        [sa.text("(1)")],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_replays_active", "replays")


def _fail_all_active_but_the_oldest() -> None:
    active = replays.c.status.in_(["queued", "running"])
    oldest = (
        sa.select(replays.c.replay_id)
        .where(active)
        .order_by(replays.c.requested_at, replays.c.replay_id)
        .limit(1)
        .scalar_subquery()
    )
    op.get_bind().execute(
        replays.update()
        .where(active, replays.c.replay_id != oldest)
        .values(
            status="failed",
            error="another replay was active at once (refused since migration 0008)",
            finished_at=datetime.now(UTC),
        )
    )
