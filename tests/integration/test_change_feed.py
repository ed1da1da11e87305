"""The change feed, paged: two places changed by one event (a correction moving a claim) share a
log position, and neither is lost at a page boundary, in `/v1/changes` or in the stream's reader."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api import stream
from services.seed import SEED_REPORT
from services.web.context import context_of
from tests.support.apps import INGEST


def moved_claim(client: TestClient) -> int:
    """The seed, a claim on Rawa, then a correction moving it to Hit: Rawa and Hit change at once."""
    seed = copy.deepcopy(SEED_REPORT) | {"id": uuid.uuid4().hex}
    assert client.post("/v1/reports", json=seed, headers=INGEST).status_code == 201
    claim = {"place": "Rawa", "country": "IQ", "actor": "IS", "occurred_at": "2017-11-20"}
    body: dict[str, Any] = {"id": uuid.uuid4().hex, "source": {"name": "t"}, "claims": [claim]}
    event_id = client.post("/v1/reports", json=body, headers=INGEST).json()["events"][0]["event_id"]
    moved = {"event_id": event_id, "changes": {"place": "Hit", "country": "IQ"}, "reason": "wrong town"}
    answer = client.post("/v1/corrections", json=moved, headers=INGEST)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["position"])


def test_changes_paged_one_by_one_lose_no_place_sharing_a_position(client: TestClient) -> None:
    position = moved_claim(client)
    everything = client.get("/v1/changes", params={"after": position - 1, "min_position": position})
    assert {item["position"] for item in everything.json()["items"]} == {position}
    paged: list[str] = []
    cursor = None
    while True:
        params = {"after": position - 1, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/changes", params=params).json()
        paged += [item["place_id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert paged == sorted(item["place_id"] for item in everything.json()["items"])
    assert len(paged) == 2


def test_the_streams_reader_loses_no_place_sharing_a_position(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    position = moved_claim(client)
    client.get("/v1/contested", params={"min_position": position})
    runtime = context_of(client.app).runtime
    _, whole = stream.read_changes(runtime, position - 1, None)
    monkeypatch.setattr(stream, "PAGE", 1)
    _, paged = stream.read_changes(runtime, position - 1, None)
    assert [c.place["place_id"] for c in paged] == [c.place["place_id"] for c in whole]
    assert len(paged) == 2
