"""Read-your-writes and one consistent read-model version across endpoints.

The bug reported: on PostgreSQL with RQ, /v1/places/{id} still showed a retracted claim while
/v1/contested had already dropped it. An answer computed from a snapshot taken just before the
projector committed went out after answers from the newer version had: state went back.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.api import reads
from services.api.context import ReadSide
from services.combined import create_app
from services.projector.runner import catch_up
from services.seed import SEED_REPORT
from services.web.context import context_of
from tests.support.apps import INGEST, settings_for
from tests.support.workers import wait_until, worker_env


def seed(client: TestClient) -> tuple[int, str]:
    """Post the seed article; its position and the event of IS retaking 40 % of Abu Kamal."""
    body = copy.deepcopy(SEED_REPORT)
    body["id"] = f"seed-{uuid.uuid4().hex}"
    answer = client.post("/v1/reports", json=body, headers=INGEST).json()
    [retaken] = [e for e in answer["events"] if e["actor_id"] == "islamic-state"]
    return int(answer["position"]), str(retaken["event_id"])


def retract(client: TestClient, event_id: str) -> int:
    response = client.post("/v1/retractions", json={"event_id": event_id, "reason": "test"}, headers=INGEST)
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def read_at(client: TestClient, path: str, position: int) -> Any:
    """GET `path` with `min_position`: each try waits up to 5 s (then 503); a worker starting on a
    loaded machine may take longer than one try."""
    answers: list[Any] = []

    def reached() -> bool:
        answers.append(client.get(path, params={"min_position": position}))
        return bool(answers[-1].status_code != 503)

    wait_until(reached, 60, f"the read models to reach {position}")
    assert answers[-1].status_code == 200, answers[-1].text
    return answers[-1]


def position_of(response: Any) -> int:
    return int(response.headers["x-projection-position"])


@pytest.fixture
def embedded(backend_url: str, cache_dir: Path) -> Iterator[TestClient]:
    # A slow follower: the watch moves only when this test (or an answer) moves it.
    app = create_app(settings_for(backend_url, cache_dir, reconcile_interval=60))
    with TestClient(app) as client:
        yield client


def test_an_answer_never_goes_back_behind_one_already_given(
    embedded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = embedded
    app: Any = client.app
    seeded, retaken = seed(client)
    assert client.get("/v1/contested", params={"min_position": seeded}).json()["items"]
    original = reads.get_place
    retracted: list[int] = []

    def get_place_while_the_projector_commits(ctx: reads.Context, place_id: str) -> Any:
        # This answer's snapshot is taken; now the retraction is projected, and the process
        # answers /v1/contested from the newer version, before this answer is done.
        if not retracted:
            runtime = context_of(app).runtime
            from services.ingest.corrections import RetractionIn, record_retraction

            with runtime.db.transaction() as conn:
                body = RetractionIn(event_id=retaken, reason="test")
                retracted.append(record_retraction(conn, body, uuid.uuid4().hex).answer.position)
            catch_up(runtime.db)
            context_of(app).get(ReadSide).follower.poll()
            assert context_of(app).get(ReadSide).watch.version.position >= retracted[0]
        return original(ctx, place_id)

    monkeypatch.setattr(reads, "get_place", get_place_while_the_projector_commits)
    place = client.get("/v1/places/albu-kamal-sy")  # its snapshot may predate the retraction
    contested = client.get("/v1/contested")
    again = client.get("/v1/places/albu-kamal-sy")
    answers = [place, contested, again]
    # Reads in turn never go back, whichever endpoint they ask...
    assert [position_of(a) for a in answers] == sorted(position_of(a) for a in answers)
    # ...and each is one version: the retraction is in it exactly when its position includes it.
    shows_retraction = [
        place.json()["status"] == "controlled",
        contested.json()["items"] == [],
        again.json()["status"] == "controlled",
    ]
    assert shows_retraction == [position_of(a) >= retracted[0] for a in answers]
    latest = client.get("/v1/places/albu-kamal-sy", params={"min_position": retracted[0]})
    assert latest.json()["status"] == "controlled"


def test_read_your_writes_on_postgres_with_rq(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in worker_env(fresh_pg_url, redis_url, queue_name, cache_dir).items():
        monkeypatch.setenv(name, value)  # the RQ worker `frontline serve` starts reads these
    settings = settings_for(fresh_pg_url, cache_dir, redis_url=redis_url, queue_name=queue_name)
    try:
        with TestClient(create_app(settings)) as client:
            seeded, retaken = seed(client)
            before = read_at(client, "/v1/places/albu-kamal-sy", seeded)
            assert before.json()["status"] == "contested"
            assert client.get("/v1/contested").json()["items"]  # both answers cached
            position = retract(client, retaken)
            # The 201's position, as min_position: the answer includes the write.
            place = read_at(client, "/v1/places/albu-kamal-sy", position)
            assert position_of(place) >= position
            assert place.json()["status"] == "controlled"
            # And every later read of this process, of any endpoint, is at least as new.
            contested = client.get("/v1/contested")
            assert position_of(contested) >= position
            assert contested.json()["items"] == []
            again = client.get("/v1/places/albu-kamal-sy")
            assert (position_of(again), again.json()["status"]) >= (position, "controlled")
    finally:
        _forget_queue(redis_url, queue_name)


def _forget_queue(redis_url: str, queue_name: str) -> None:
    """Delete this test's RQ keys, and only those."""
    connection = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: not connection.smembers(f"rq:workers:{queue_name}"), 20, "the worker to stop")
        for key in connection.scan_iter(match=f"rq:*{queue_name}*"):
            connection.delete(key)
        for key in connection.scan_iter(match="rq:worker:*"):  # a stopped worker's, kept a minute
            if connection.type(key) == b"hash" and connection.hget(key, "queues") == queue_name.encode():
                connection.delete(key)
    finally:
        connection.close()
