"""Place names readers know, and an index on the PlaceNamesChanged events a read looks up.

A place made from a gazetteer entry is shown under the name the first claim used for it ("Abu
Kamal", not "Ālbū Kamāl"), the gazetteer's name heading its aliases. Places recorded before that
rule are renamed so here, from their first claim in the log (the same keys resolve to them: the
claimed name was one of the entry's spellings).

A rename (`PATCH /v1/places/{id}`) is an event in the log, so every read answers with the names
as they stood at its read-model version (and at `known_at`), and a replay cannot lose one. The
read side looks them up per place among a handful of such events in a log of millions: a partial
index holds only those.

Revision ID: 0006_place_names
Revises: 0005_place_attributes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.store.types import JSONType

revision = "0006_place_names"
down_revision = "0005_place_attributes"
branch_labels = None
depends_on = None

WHERE = sa.text("type = 'PlaceNamesChanged'")


def upgrade() -> None:
    _name_as_first_claimed(op.get_bind())
    op.create_index(
        "ix_events_place_names",
        "events",
        ["stream_id", "position"],
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_events_place_names", "events")


def _name_as_first_claimed(bind: sa.Connection) -> None:
    places = sa.table(
        "places",
        sa.column("place_id"),
        sa.column("name"),
        sa.column("aliases", JSONType),
        sa.column("origin"),
    )
    events = sa.table(
        "events",
        sa.column("position"),
        sa.column("stream_id"),
        sa.column("type"),
        sa.column("data", JSONType),
    )
    from_gazetteer = sa.select(places.c.place_id, places.c.name, places.c.aliases).where(
        places.c.origin == "gazetteer"
    )
    for place in bind.execute(from_gazetteer).all():
        first = bind.execute(
            sa.select(events.c.data)
            .where(events.c.stream_id == place.place_id, events.c.type == "ControlChanged")
            .order_by(events.c.position)
            .limit(1)
        ).first()
        claimed = first.data.get("place_name") if first is not None else None
        if claimed and claimed != place.name:
            aliases = list(dict.fromkeys(n for n in (place.name, *(place.aliases or ())) if n != claimed))
            bind.execute(
                places.update()
                .where(places.c.place_id == place.place_id)
                .values(name=claimed, aliases=aliases)
            )
