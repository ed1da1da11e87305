"""The contested list kept in memory answers exactly what the SQL read answers: the same items,
order, cursors and pages, names after a rename, and the new read models after a replay."""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
from fastapi.testclient import TestClient

from services.api import paging, reads
from services.api.context import ReadSide
from services.api.position import Version, read_version
from services.store.read_models import tables
from services.web.context import context_of
from tests.integration.test_replay import run_replay
from tests.support.apps import INGEST
from tests.support.workers import wait_until

NAMES = ["Abu Kamal", "Mosul", "Raqqa", "Rawa", "Tadmur", "al-Qaim", "Deir ez-Zor", "Manbij"]
ACTORS = ["SAA", "IS", "ISF", "SDF", "Peshmerga"]
SHARES = [100, 70, 60, 50, 40, 40, 30, 20, 10]
LIMITS = (1, 2, 3, 100)


def test_the_memory_answers_what_sql_answers_through_writes_amendments_renames_and_a_replay(
    client: TestClient,
) -> None:
    rng = random.Random(13)
    claims: list[dict[str, Any]] = []
    sizes = []
    for step in range(36):
        if step == 24:
            run_replay(client)
            _settle(client, _version(client))  # the new generation: learnt again on the next read
            sizes.append(_assert_same_pages(client))
        position = _write(client, rng, claims, step)
        _settle(client, Version(_version(client).generation, position))
        sizes.append(_assert_same_pages(client))
    assert max(sizes) >= 4 and len(set(sizes)) >= 3  # the list grew and shrank: the pages meant something


def _write(client: TestClient, rng: random.Random, claims: list[dict[str, Any]], step: int) -> int:
    """A claim mostly; now and then a correction, a retraction or a rename: its log position.
    (`claims`: the claim events so far, each with its place id and event id.)"""
    roll = rng.random()
    live = [c for c in claims if not c.get("retracted")]
    if roll < 0.15 and live:
        claim = rng.choice(live)
        change = {"share": rng.choice(SHARES)} if rng.random() < 0.7 else {"actor": rng.choice(ACTORS)}
        body = {"event_id": claim["event_id"], "changes": change, "reason": "test"}
        return _posted(client.post("/v1/corrections", json=body, headers=INGEST))
    if roll < 0.25 and live:
        claim = rng.choice(live)
        claim["retracted"] = True
        body = {"event_id": claim["event_id"], "reason": "test"}
        return _posted(client.post("/v1/retractions", json=body, headers=INGEST))
    if roll < 0.32 and claims:
        place_id = rng.choice(claims)["place_id"]
        body = {"name": f"Renamed {uuid.uuid4().hex[:6]}"}
        return _posted(client.patch(f"/v1/places/{place_id}", json=body, headers=INGEST))
    actor, other = rng.sample(ACTORS, 2)
    claim = {"place": rng.choice(NAMES), "actor": actor, "share": rng.choice(SHARES), "from_actor": other}
    claim["occurred_at"] = f"2017-{1 + step % 12:02d}-{1 + step % 28:02d}"
    report = {"id": uuid.uuid4().hex, "source": {"name": "memory test"}, "claims": [claim]}
    response = client.post("/v1/reports", json=report, headers=INGEST)
    claims += response.json()["events"]
    return _posted(response)


def _posted(response: Any) -> int:
    assert response.status_code in (200, 201), response.text
    return int(response.json()["position"])


def _settle(client: TestClient, version: Version) -> None:
    """Wait until the answer cache has noted `version` (the last write's); then have a read learn
    the list if the memory is empty (the first read, or the first after a replay)."""
    cache = context_of(client.app).get(ReadSide).cache
    wait_until(lambda: cache.current >= version, 10, "the cache to note the change")
    assert client.get("/v1/contested").status_code == 200


def _assert_same_pages(client: TestClient) -> int:
    """Every page of every limit, from memory, from SQL and over HTTP, alike; the list's length."""
    known = context_of(client.app).get(ReadSide).cache.contested.known
    assert known is not None and known.version == _version(client)
    for limit in LIMITS:
        cursor = None
        while True:
            expected = _sql_page(client, cursor, limit)
            assert orjson.dumps(known.page(cursor, limit)) == orjson.dumps(expected)
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = paging.encode(cursor)
            assert client.get("/v1/contested", params=params).json() == expected
            cursor = paging.decode(expected["next_cursor"], (int, str))
            if cursor is None:
                break
    return len(known.views)


def _sql_page(client: TestClient, cursor: list[Any] | None, limit: int) -> dict[str, Any]:
    runtime = context_of(client.app).runtime
    with runtime.read_db.snapshot() as conn:
        version = read_version(conn)
        ctx = reads.Context(
            conn, tables(), lambda a: runtime.actors.name_of(conn, a), reads.Bounds(), version.position
        )
        return reads.contested(ctx, cursor, limit)


def _version(client: TestClient) -> Version:
    with context_of(client.app).runtime.read_db.snapshot() as conn:
        return read_version(conn)
