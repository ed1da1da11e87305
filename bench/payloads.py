"""The reports the benchmarks send, and the events Frontline makes of them.

The raw baselines and the peer store the very data Frontline's ControlChanged events carry (built by
`services.ingest.reports.claim_data` itself), so that every figure moves the same bytes.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

import orjson

from services.ingest.reports import claim_data
from services.ingest.schemas import ClaimIn, ReportIn

# Gazetteer places (name, country, the place id the gazetteer gives it) and built-in actors
# (a name feeds use, its actor id).
PLACES = (
    ("Abu Kamal", "SY", "albu-kamal-sy"),
    ("Rawa", "IQ", "rawah-iq"),
    ("Mosul", "IQ", "mosul-iq"),
    ("Raqqa", "SY", "ar-raqqah-sy"),
)
ACTORS = (
    ("IS", "islamic-state"),
    ("SAA", "syrian-arab-army"),
    ("ISF", "iraqi-security-forces"),
    ("SDF", "syrian-democratic-forces"),
)
SOURCE = {"name": "bench"}
FIRST_DAY = date(2014, 6, 1)


def wrk_claim(counter: int) -> dict[str, Any]:
    """The claim bench/wrk/post_report.lua sends as its `counter`-th request."""
    return {
        "place": "Abu Kamal",
        "actor": "IS",
        "share": counter % 100,
        "from_actor": "SAA",
        "occurred_at": "2017-11-10",
    }


def varied_claim(i: int) -> dict[str, Any]:
    """The `i`-th claim of a large report: places, actors, shares and dates all vary."""
    place, country, _ = PLACES[i % len(PLACES)]
    actor = (i // len(PLACES)) % len(ACTORS)
    giver = (actor + 1 + i % (len(ACTORS) - 1)) % len(ACTORS)  # never the actor itself
    return {
        "place": place,
        "country": country,
        "actor": ACTORS[actor][0],
        "share": (i * 7) % 101,
        "from_actor": ACTORS[giver][0],
        "occurred_at": (FIRST_DAY + timedelta(days=(i * 13) % 1800)).isoformat(),
    }


def report(report_id: str, claims: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": report_id, "source": SOURCE, "claims": claims}


def big_report(report_id: str, size: int) -> dict[str, Any]:
    return report(report_id, [varied_claim(i) for i in range(size)])


def unknown_places_report(report_id: str, size: int) -> dict[str, Any]:
    """A large report whose every claim names a different place nobody knows, with no country to
    record it in: refused whole (422), every claim an error."""
    claims = [{**varied_claim(i), "place": f"Nowhereville {i}"} for i in range(size)]
    return report(report_id, [{k: v for k, v in c.items() if k != "country"} for c in claims])


_PLACE_IDS = {name: place_id for name, _, place_id in PLACES}
_ACTOR_IDS = dict(ACTORS)


def event_data(report_id: str, index: int, claim: dict[str, Any]) -> dict[str, Any]:
    """The data of the ControlChanged event Frontline appends for `claim` of report `report_id`."""
    body = ReportIn.model_validate(report(report_id, [claim]))
    parsed: ClaimIn = body.claims[0]
    return claim_data(
        body,
        index,
        parsed,
        _PLACE_IDS[parsed.place],
        _ACTOR_IDS[parsed.actor],
        _ACTOR_IDS[parsed.from_actor] if parsed.from_actor else None,
        [],
        False,
    )


def event_data_fast(report_id: str, index: int, claim: dict[str, Any]) -> dict[str, Any]:
    """`event_data`, from a copy built once per distinct claim: validating each claim through the
    API's models costs more than the insert it feeds, and the claims repeat. The copies share
    their nested values, which nothing changes."""
    template = _template(index, orjson.dumps(claim, option=orjson.OPT_SORT_KEYS))
    return {**template, "report_id": report_id}


@functools.cache
def _template(index: int, claim: bytes) -> dict[str, Any]:
    return event_data("template", index, orjson.loads(claim))
