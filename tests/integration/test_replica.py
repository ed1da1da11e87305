"""The read API on a real streaming hot standby (READ_DATABASE_URL), ingest and projector on the primary.

The test makes its own primary and standby (pg_basebackup), each on a free port, and removes both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.store.migrations import upgrade
from tests.conftest import IN_CI
from tests.integration.test_stream import claim, post, shares, start
from tests.support.servers import ThrowawayPostgres, ThrowawayStandby, postgres_bin_dir
from tests.support.sse import Subscriber

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[ThrowawayPostgres, ThrowawayStandby]]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL's initdb, pg_ctl and pg_basebackup are not installed"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    primary = ThrowawayPostgres(bin_dir)
    standby = ThrowawayStandby(primary)
    try:
        primary.init()
        primary.start()
        upgrade(primary.url)
        standby.init()
        standby.start()
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


@pytest.fixture
def stack(
    replicated: tuple[ThrowawayPostgres, ThrowawayStandby], cache_dir: Path
) -> Iterator[tuple[str, httpx.Client, ThrowawayStandby]]:
    primary, standby = replicated
    for base, http in start(primary.url, cache_dir, read_database_url=standby.url, stream_heartbeat=0.3):
        yield base, http, standby


def test_reads_with_min_position_wait_for_the_standby(
    stack: tuple[str, httpx.Client, ThrowawayStandby],
) -> None:
    base, http, _ = stack
    with Subscriber(base) as sub:
        position = post(
            http, claim("Abu Kamal", "SAA", day=8), claim("Abu Kamal", "IS", 40, day=10, from_actor="SAA")
        )
        place = http.get("/v1/places/albu-kamal-sy", params={"min_position": position})
        (event,) = sub.wait_for(1)
    assert place.status_code == 200, place.text
    assert int(place.headers["x-projection-position"]) >= position
    assert shares(place.json()) == {"syrian-arab-army": 60, "islamic-state": 40}
    assert int(event.id) == position


def test_a_lagging_standby_answers_503_then_catches_up(
    stack: tuple[str, httpx.Client, ThrowawayStandby],
) -> None:
    _, http, standby = stack
    standby.pause_replay()
    try:
        position = post(http, claim("Rawa", "ISF"))
        started = time.monotonic()
        lagging = http.get("/v1/places/rawah-iq", params={"min_position": position})
        waited = time.monotonic() - started
    finally:
        standby.resume_replay()
    assert lagging.status_code == 503
    assert lagging.headers["retry-after"] and waited >= 4.5
    assert int(lagging.headers["x-projection-position"]) < position
    caught_up = http.get("/v1/places/rawah-iq", params={"min_position": position})
    assert caught_up.status_code == 200
    assert shares(caught_up.json()) == {"iraqi-security-forces": 100}
