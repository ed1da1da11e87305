"""Races the answer cache must survive: a list computed from a snapshot that a noted change has
passed, and names of actors another process added (a read API apart from ingest)."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api import reads
from services.api.app import create_app as create_read_app
from services.combined import create_app
from services.seed import SEED_REPORT
from tests.support.apps import INGEST, settings_for
from tests.support.workers import wait_until


def post(client: TestClient, *claims: dict[str, Any]) -> int:
    body = {"id": uuid.uuid4().hex, "source": {"name": "t"}, "claims": list(claims)}
    answer = client.post("/v1/reports", json=body, headers=INGEST)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["position"])


def seed(client: TestClient) -> int:
    body = copy.deepcopy(SEED_REPORT) | {"id": uuid.uuid4().hex}
    return int(client.post("/v1/reports", json=body, headers=INGEST).json()["position"])


def test_a_list_computed_before_a_noted_change_is_not_served_as_fresh(
    fresh_pg_url: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(settings_for(fresh_pg_url, cache_dir, reconcile_interval=0.2))) as client:
        position = seed(client)
        assert client.get("/v1/places/rawah-iq", params={"min_position": position}).status_code == 200
        computed = reads.contested

        def slow(ctx: reads.Context, after: Any, limit: int) -> Any:
            answer = computed(ctx, after, limit)  # from the old snapshot
            time.sleep(2)  # meanwhile a write is projected and noted
            return answer

        monkeypatch.setattr(reads, "contested", slow)
        slow_answer: dict[str, Any] = {}
        reader = threading.Thread(target=lambda: slow_answer.setdefault("r", client.get("/v1/contested")))
        reader.start()
        time.sleep(0.5)
        post(
            client, {"place": "Abu Kamal", "actor": "SAA", "occurred_at": "2017-11-30"}
        )  # no longer contested
        reader.join()
        monkeypatch.setattr(reads, "contested", computed)
        later = post(client, {"place": "Mosul", "actor": "Iraqi forces", "occurred_at": "2017-12-01"})
        answer = client.get("/v1/contested", params={"min_position": later})
        truth = client.get("/v1/contested", params={"limit": 99}).json()["items"]  # another key: computed
        assert answer.json()["items"] == truth == []


def test_a_read_api_apart_from_ingest_names_an_actor_added_there(fresh_pg_url: str, cache_dir: Path) -> None:
    settings = settings_for(fresh_pg_url, cache_dir, reconcile_interval=0.2)
    with TestClient(create_app(settings)) as writer, TestClient(create_read_app(settings)) as reader:
        position = seed(writer)
        assert reader.get("/v1/places/rawah-iq", params={"min_position": position}).status_code == 200
        assert writer.post("/v1/actors", json={"name": "Tribal Council X"}, headers=INGEST).status_code == 201
        claim = {"place": "Rawa", "actor": "Tribal Council X", "occurred_at": "2017-11-25"}
        position = post(writer, claim)

        def read_at_position() -> bool:
            return reader.get("/v1/places/rawah-iq", params={"min_position": position}).status_code == 200

        wait_until(read_at_position, 20, "the separate read API to reach the claim")
        place = reader.get("/v1/places/rawah-iq", params={"min_position": position}).json()
        assert place["control"][0]["actor"] == "Tribal Council X"
