"""`frontline import --format acled` on PostgreSQL and SQLite: an export made from the codebook's
columns goes through the report path; its places, actors and events are what the mapping says."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console

from services.acled.actors import ActorMap
from services.acled.source import import_acled
from services.config import Settings
from services.importer import Summary
from services.store import places as place_store
from services.store.database import Database
from services.store.schema import actors, events
from tests.support.acled import export, row

SUB_EVENT_TYPES_SKIPPED = ("Armed clash", "Air/drone strike", "Peaceful protest", "Attack")

# Line numbers: the header is line 1, so row i (from 0) is line i + 2.
ROWS = [
    # a known place, a mapped actor on both sides, the long date form, precision 1
    row("SYR100", event_date="08 November 2017", time_precision="1"),
    # the ISO date form, precision 2, an unmapped actor (ABBR: Name) with an unmapped supporter
    row(
        "SYR101",
        "Non-state actor overtakes territory",
        event_date="2017-11-10",
        time_precision="2",
        actor1="HTS: Hayat Tahrir al Sham",
        actor2="Military Forces of Syria (2000-2024)",
        assoc_actor_1="Ahrar al Sham",
        location="Hajin",
        latitude="34.695",
        longitude="40.831",
    ),
    # precision 3: a month; a name two gazetteer entries share, told apart by the coordinates
    row(
        "SYR102",
        "Non-violent transfer of territory",
        event_date="15 October 2017",
        time_precision="3",
        actor1="SDF: Syrian Democratic Forces",
        actor2="Islamic State (Syria)",
        location="Suran",
        latitude="36.566",
        longitude="37.213",
    ),
    # a country outside GAZETTEER_COUNTRIES: a new place at ACLED's coordinates, admin1-3 kept
    row(
        "UKR200",
        country="Ukraine",
        event_date="2023-08-28",
        actor1="Military Forces of Ukraine (2019-)",
        actor2="Military Forces of Russia (2000-)",
        location="Robotyne",
        latitude="47.4527",
        longitude="35.8377",
        admin=("Zaporizhia", "Polohivskyi", "Orikhivska"),
    ),
    *(row(f"SKIP{i}", kind) for i, kind in enumerate(SUB_EVENT_TYPES_SKIPPED)),
    row("SYR103", location=""),  # line 10: no location
    row("SYR104", event_date="08 November 2099"),  # line 11: the future
    row("SYR105", actor2="Military Forces of Syria (2011-)"),  # line 12: a same-actor transfer
]


def settings_for(url: str, cache_dir: Path) -> Settings:
    return Settings(database_url=url, cache_dir=cache_dir, redis_url="")


def run(settings: Settings, text: str, reject_unknown: bool = False) -> tuple[Summary, str]:
    out = io.StringIO()
    console = Console(file=out, width=200)
    summary = import_acled(settings, io.StringIO(text), ActorMap.load(), reject_unknown, console)
    return summary, out.getvalue()


def claims(db: Database) -> dict[str, dict[str, Any]]:
    with db.snapshot() as conn:
        rows = conn.execute(
            sa.select(events.c.request_id, events.c.stream_id, events.c.occurred_at, events.c.data).where(
                events.c.type == "ControlChanged"  # not the ActorRegistered events of new actors
            )
        )
    return {r.request_id: {"place_id": r.stream_id, "occurred_at": r.occurred_at, **r.data} for r in rows}


def actor_rows(db: Database) -> dict[str, tuple[str, list[str]]]:
    with db.snapshot() as conn:
        rows = conn.execute(sa.select(actors.c.actor_id, actors.c.name, actors.c.aliases))
    return {r.actor_id: (r.name, r.aliases) for r in rows}


def test_an_export_goes_in_through_the_report_path(backend_url: str, db: Database, cache_dir: Path) -> None:
    summary, output = run(settings_for(backend_url, cache_dir), export(ROWS))

    assert (summary.stored, summary.present, summary.rejected) == (4, 0, 3)
    assert summary.skipped == dict.fromkeys(SUB_EVENT_TYPES_SKIPPED, 1)
    assert summary.exit_code == 1
    assert "line 10: no location" in output
    assert "line 11: " in output and "future" in output
    assert "line 12: a same-actor transfer" in output
    assert "Traceback" not in output

    stored = claims(db)
    assert set(stored) == {"acled:SYR100", "acled:SYR101", "acled:SYR102", "acled:UKR200"}
    taken = stored["acled:SYR100"]
    assert (taken["place_id"], taken["actor_id"], taken["from_actor_id"]) == (
        "albu-kamal-sy",
        "syrian-arab-army",
        "islamic-state",
    )
    assert taken["share"] == 100
    assert taken["occurred_at"] == "2017-11-08"
    assert taken["note"] == "On 8 November 2017, regime forces took the town."
    assert taken["source"] == {"name": "SANA; SOHR", "url": None, "published_at": "2017-11-10T00:00:00Z"}
    assert stored["acled:SYR101"]["occurred_at"] == "2017-11-10"
    assert stored["acled:SYR102"]["occurred_at"] == "2017-10"
    assert stored["acled:SYR102"]["place_id"] == "suran-sy-163913"  # the Suran near the coordinates

    hts = stored["acled:SYR101"]
    assert (hts["actor_id"], hts["supporting_actor_ids"]) == ("hayat-tahrir-al-sham", ["ahrar-al-sham"])
    added = actor_rows(db)
    assert added["hayat-tahrir-al-sham"] == ("Hayat Tahrir al Sham", ["HTS", "HTS: Hayat Tahrir al Sham"])
    assert set(added) == {
        "hayat-tahrir-al-sham",
        "ahrar-al-sham",
        "military-forces-of-ukraine",
        "military-forces-of-russia",
    }
    assert "HTS: Hayat Tahrir al Sham -> hayat-tahrir-al-sham" in output

    robotyne = stored["acled:UKR200"]
    assert robotyne["place_created"] is True
    with db.snapshot() as conn:
        place = place_store.get(conn, robotyne["place_id"])
        attributes = place_store.attributes_of(conn, robotyne["place_id"])
    assert place is not None and place.country == "UA"
    assert place.location is not None and (place.location.lat, place.location.lon) == (47.4527, 35.8377)
    assert attributes == {"admin1": "Zaporizhia", "admin2": "Polohivskyi", "admin3": "Orikhivska"}


def test_a_rerun_stores_nothing_twice(backend_url: str, db: Database, cache_dir: Path) -> None:
    settings = settings_for(backend_url, cache_dir)
    run(settings, export(ROWS))
    before = claims(db), actor_rows(db)

    summary, output = run(settings, export(ROWS))

    assert (summary.stored, summary.present, summary.rejected) == (0, 4, 3)
    assert (claims(db), actor_rows(db)) == before
    assert "new actors" not in output


def test_unknown_actors_can_be_refused_instead(backend_url: str, db: Database, cache_dir: Path) -> None:
    summary, output = run(settings_for(backend_url, cache_dir), export(ROWS[:4]), reject_unknown=True)

    assert (summary.stored, summary.rejected) == (2, 2)
    assert "line 3: unknown actor 'HTS: Hayat Tahrir al Sham', 'Ahrar al Sham'" in output
    assert "line 5: unknown actor 'Military Forces of Ukraine'" in output
    assert set(claims(db)) == {"acled:SYR100", "acled:SYR102"}
    assert actor_rows(db) == {}


def test_a_header_that_is_not_acleds_is_refused_before_anything_is_read(
    fresh_sqlite_url: str, cache_dir: Path
) -> None:
    from services.acled.source import NotAcled

    with pytest.raises(NotAcled, match="event_id_cnty"):
        run(settings_for(fresh_sqlite_url, cache_dir), "id,date\n1,2024-01-01\n")
