"""Every length the API accepts fits the column that stores it (issue 11: a 201-character actor
name was a 500, its derived id too long for `actor_id`)."""

from __future__ import annotations

import sqlalchemy as sa

from services.domain.names import ID_MAX, KEY_MAX, SLUG_MAX, name_key, slugify
from services.ingest.schemas import ActorIn, ClaimIn, PlaceIn, ReportIn
from services.store.read_models import tables
from services.store.schema import actors, events, place_names, places, requests

LONGEST_TIMESTAMP = "9999-12-31T23:59:59.999999Z"  # what normalised occurred_at texts can be


def length(column: sa.Column[str]) -> int:
    value = column.type.length  # type: ignore[attr-defined]
    assert isinstance(value, int)
    return value


def max_length(model: type, field: str) -> int:
    for item in model.model_fields[field].metadata:  # type: ignore[attr-defined]
        if getattr(item, "max_length", None) is not None:
            return int(item.max_length)
    raise AssertionError(f"{model.__name__}.{field} has no max_length")


def test_texts_fit_their_columns() -> None:
    text = max_length(ClaimIn, "place")
    assert max_length(ReportIn, "id") <= min(length(requests.c.request_id), length(events.c.request_id))
    assert max_length(ReportIn, "id") <= length(tables().claims.c.report_id)
    assert max_length(PlaceIn, "name") <= length(places.c.name)
    assert max_length(ActorIn, "name") <= length(actors.c.name)
    assert text <= length(places.c.name)
    assert len(LONGEST_TIMESTAMP) <= length(events.c.occurred_at) <= length(tables().claims.c.occurred_at)


def test_derived_ids_and_keys_fit_their_columns() -> None:
    assert length(place_names.c.key) >= KEY_MAX
    for column in (places.c.place_id, actors.c.actor_id, events.c.stream_id, tables().holdings.c.actor_id):
        assert length(column) >= ID_MAX
    assert SLUG_MAX + len("-sy") + len("-999999") <= ID_MAX


def test_the_longest_names_give_ids_and_keys_that_fit() -> None:
    for name in ("A" * 500, "ab " * 166, "\ufdfa" * 500, "ß" * 500, "x" + "\u0627" * 499):
        assert len(slugify(name)) <= SLUG_MAX
        assert len(name_key(name)) <= KEY_MAX
    assert slugify("A" * 500) == slugify("A" * 500) != slugify("A" * 499)  # stable, and distinct
    assert slugify("Abu Kamal") == "abu-kamal"  # short names are as before
