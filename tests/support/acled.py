"""ACLED-shaped CSV exports built in the tests (no ACLED data is shipped): the codebook's columns,
with rows made up to exercise each rule of the mapping."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from services.acled.rows import CODEBOOK_COLUMNS as COLUMNS

EVENT_TYPES = {
    "Government regains territory": ("Battles", "Political violence"),
    "Non-state actor overtakes territory": ("Battles", "Political violence"),
    "Armed clash": ("Battles", "Political violence"),
    "Non-violent transfer of territory": ("Strategic developments", "Strategic developments"),
    "Air/drone strike": ("Explosions/Remote violence", "Political violence"),
    "Shelling/artillery/missile attack": ("Explosions/Remote violence", "Political violence"),
    "Peaceful protest": ("Protests", "Demonstrations"),
    "Attack": ("Violence against civilians", "Political violence"),
    "Looting/property destruction": ("Strategic developments", "Strategic developments"),
}
COUNTRY_ISO = {"Syria": "760", "Iraq": "368", "Ukraine": "804", "Mali": "466"}


def row(
    event_id: str,
    sub_event_type: str = "Government regains territory",
    *,
    event_date: str = "08 November 2017",
    time_precision: str = "1",
    actor1: str = "Military Forces of Syria (2000-2024)",
    actor2: str = "Islamic State (Syria)",
    assoc_actor_1: str = "",
    country: str = "Syria",
    location: str = "Abu Kamal",
    latitude: str = "34.4506",
    longitude: str = "40.9171",
    admin: tuple[str, str, str] = ("Deir-ez-Zor", "Al Mayadin", "Abu Kamal"),
    source: str = "SANA; SOHR",
    notes: str = "On 8 November 2017, regime forces took the town.",
    timestamp: str = "1510272000",
) -> dict[str, str]:
    event_type, disorder = EVENT_TYPES[sub_event_type]
    year = event_date[-4:] if " " in event_date else event_date[:4]
    return {
        "event_id_cnty": event_id,
        "event_date": event_date,
        "year": year,
        "time_precision": time_precision,
        "disorder_type": disorder,
        "event_type": event_type,
        "sub_event_type": sub_event_type,
        "actor1": actor1,
        "assoc_actor_1": assoc_actor_1,
        "inter1": "1",
        "actor2": actor2,
        "assoc_actor_2": "",
        "inter2": "2",
        "interaction": "12",
        "civilian_targeting": "",
        "iso": COUNTRY_ISO.get(country, ""),
        "region": "Middle East",
        "country": country,
        "admin1": admin[0],
        "admin2": admin[1],
        "admin3": admin[2],
        "location": location,
        "latitude": latitude,
        "longitude": longitude,
        "geo_precision": "1",
        "source": source,
        "source_scale": "National",
        "notes": notes,
        "fatalities": "0",
        "tags": "",
        "timestamp": timestamp,
    }


def export(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as an export's CSV text (header first)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
