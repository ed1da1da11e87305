"""The tables that hold the truth: the event log, idempotency records and the registries.

The DDL lives in `migrations/` (hand-written: triggers and locks are not something autogenerate
knows); these Table objects describe the same tables for queries, and a test checks both agree.
"""

from __future__ import annotations

import sqlalchemy as sa

from services.store.types import JSONType, UTCDateTime

metadata = sa.MetaData()

# The append-only log. `position` is global and commit-ordered (see migrations and events.py);
# `stream_version` counts the events of one place, for optimistic concurrency.
events = sa.Table(
    "events",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
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
    sa.Index("ix_events_request_id", "request_id"),
    sa.Index("ix_events_target_event_id", "target_event_id"),
    sa.Index("ix_events_recorded_at", "recorded_at"),
    # Only the PlaceNamesChanged events: the names a read looks up (migration 0006).
    sa.Index(
        "ix_events_place_names",
        "stream_id",
        "position",
        postgresql_where=sa.text("type = 'PlaceNamesChanged'"),
        sqlite_where=sa.text("type = 'PlaceNamesChanged'"),
    ),
)

# One row per client request id (a report's `id`, a correction's or retraction's `id`): the
# idempotency record, written in the same transaction as the request's events.
requests = sa.Table(
    "requests",
    metadata,
    sa.Column("kind", sa.String(20), primary_key=True),  # report | correction | retraction
    sa.Column("request_id", sa.String(500), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

places = sa.Table(
    "places",
    metadata,
    sa.Column("place_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("lat", sa.Float()),
    sa.Column("lon", sa.Float()),
    sa.Column("population", sa.BigInteger()),
    sa.Column("aliases", JSONType, nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),  # registered | gazetteer | claim
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # What a source says of the place besides (an ACLED import: {"admin1": ..., "admin2": ...}).
    sa.Column("attributes", JSONType),
)

# Every matching key of every recorded place's name and aliases.
place_names = sa.Table(
    "place_names",
    metadata,
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("place_id", sa.String(200), sa.ForeignKey("places.place_id"), primary_key=True),
)

# Actors added with POST /v1/actors (the built-in ones live in the domain).
actors = sa.Table(
    "actors",
    metadata,
    sa.Column("actor_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("aliases", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
