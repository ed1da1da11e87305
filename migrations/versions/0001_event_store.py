"""The event store: the append-only log, idempotency records, places and actors.

Hand-written, because what matters most here is not a table but two guarantees the database itself
must keep, whoever connects (the services, a script, psql):

1. The log is tail-safe. `position` comes from a sequence, and sequences hand out numbers in the
   order transactions *ask*, not the order they *commit*: with concurrent writers, position 11 can
   commit before 10, and a reader paging by `position > last` that saw 11 would never see 10.
   Every insert therefore takes one transaction-scoped lock before it draws its position, and holds
   it until commit, so positions commit in order (the technique of pyeventsourcing's `_lock_table`).
   The trigger draws the position, the stream version and `recorded_at` *after* taking the lock,
   so no client can insert around it.
2. The log is immutable. UPDATE, DELETE and TRUNCATE on `events` raise, from any client.

On SQLite a write transaction holds the database's single write lock from BEGIN IMMEDIATE to commit,
which gives (1) for free; triggers give (2).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.store.types import JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

POSTGRES_TRIGGERS = """
CREATE SEQUENCE events_position_seq AS bigint OWNED BY events.position;

CREATE FUNCTION events_sequence() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
    -- One lock for every writer of this table (keyed by its oid), held to commit: positions are
    -- drawn in commit order. VOLATILE makes each query below see commits made while we waited.
    PERFORM pg_advisory_xact_lock(7340032000000 + TG_RELID::bigint);
    NEW.position := nextval('events_position_seq');
    NEW.recorded_at := clock_timestamp();
    NEW.stream_version := coalesce(
        (SELECT max(e.stream_version) FROM events e WHERE e.stream_id = NEW.stream_id), 0) + 1;
    RETURN NEW;
END $$;

CREATE TRIGGER events_sequence BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_sequence();

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'append a ClaimCorrected or ClaimRetracted event instead';
END $$;

-- Statement-level, so that even an UPDATE or DELETE matching no row is refused.
CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE on events is refused'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE on events is refused'); END""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=dialect == "sqlite",
        ),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.String(40)),
        sa.Column("occurred_precision", sa.String(10)),
        sa.Column("occurred_start", UTCDateTime()),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("request_id", sa.String(500)),
        sa.Column("target_event_id", sa.String(36)),
        sa.Column("data", JSONType, nullable=False),
        sa.UniqueConstraint("event_id", name="events_event_id_key"),
        sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_request_id", "events", ["request_id"])
    op.create_index("ix_events_target_event_id", "events", ["target_event_id"])
    op.create_index("ix_events_recorded_at", "events", ["recorded_at"])

    op.create_table(
        "requests",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("request_id", sa.String(500), primary_key=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "places",
        sa.Column("place_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("lat", sa.Float()),
        sa.Column("lon", sa.Float()),
        sa.Column("population", sa.BigInteger()),
        sa.Column("aliases", JSONType, nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "place_names",
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("place_id", sa.String(200), sa.ForeignKey("places.place_id"), primary_key=True),
    )
    op.create_table(
        "actors",
        sa.Column("actor_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("aliases", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )

    if dialect == "postgresql":
        op.execute(POSTGRES_TRIGGERS)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    raise RuntimeError("the event log is never dropped: restore from a backup instead")
