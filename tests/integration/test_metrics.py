"""GET /metrics against real PostgreSQL and Redis: requests by route, events appended, projection
lag in events and seconds, queue depth and failed jobs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from services.api.app import create_app as create_read_app
from services.doorbell import CATCH_UP
from services.ingest.app import create_app as create_ingest_app
from services.projector.runner import catch_up
from services.store.database import Database
from tests.support.apps import INGEST, settings_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def report(*places: str) -> dict[str, object]:
    claims = [{"place": p, "actor": "Iraqi forces", "occurred_at": "2017-11-17"} for p in places]
    return {"id": uuid.uuid4().hex, "source": {"name": "test"}, "claims": claims}


def test_the_log_the_projection_and_the_queue_as_metrics(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    settings = settings_for(fresh_pg_url, cache_dir, redis_url=redis_url, queue_name=queue_name)
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    try:
        with TestClient(create_ingest_app(settings)) as client:
            answer = client.post("/v1/reports", json=report("Rawa", "al-Qaim"), headers=INGEST)
            assert answer.status_code == 201, answer.text
            head = answer.json()["position"]

            samples = scrape(client)
            assert value(samples, "frontline_events_appended_total") == head
            assert value(samples, "frontline_projection_lag_events", projection="control") == head
            assert value(samples, "frontline_projection_lag_seconds", projection="control") > 0
            assert value(samples, "frontline_queue_depth", queue=queue_name) == 1  # the doorbell rang
            assert value(samples, "frontline_queue_failed_jobs", queue=queue_name) == 0
            assert value(samples, "frontline_dependency_up", dependency="database") == 1
            assert value(samples, "frontline_dependency_up", dependency="redis") == 1
            route = {"handler": "/v1/reports", "method": "POST"}
            assert value(samples, "http_requests_total", **route, status="201") == 1
            assert value(samples, "http_request_duration_seconds_count", **route, status="201") == 1

            db = Database(fresh_pg_url)
            catch_up(db)
            db.dispose()
            samples = scrape(client)
            assert value(samples, "frontline_projection_lag_events", projection="control") == 0
            assert value(samples, "frontline_projection_lag_seconds", projection="control") == 0
            assert value(samples, "frontline_projection_position", projection="control") == head

            queue.empty()  # the real catch-up would run against the environment's database
            queue.enqueue(CATCH_UP, "no-such-projection")  # fails at once: an unknown projection
            SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
            samples = scrape(client)
            assert value(samples, "frontline_queue_failed_jobs", queue=queue_name) == 1
            assert value(samples, "frontline_queue_depth", queue=queue_name) == 0
    finally:
        queue.empty()
        for job_id in queue.failed_job_registry.get_job_ids():
            queue.failed_job_registry.remove(job_id, delete_job=True)
        connection.close()


def test_cached_reads_are_counted_under_their_route(pg_url: str, cache_dir: Path) -> None:
    with TestClient(create_read_app(settings_for(pg_url, cache_dir))) as client:
        first = client.get("/v1/places")
        again = client.get("/v1/places", headers={"If-None-Match": first.headers["etag"]})
        assert (first.status_code, again.status_code) == (200, 304)
        samples = scrape(client)
        route = {"handler": "/v1/places", "method": "GET"}
        assert value(samples, "http_requests_total", **route, status="200") == 1
        assert value(samples, "http_requests_total", **route, status="304") == 1
        assert not any(
            name == "http_requests_total" and ("handler", "/metrics") in labels for name, labels in samples
        )


def test_paths_are_counted_under_their_route_template(pg_url: str, cache_dir: Path) -> None:
    with TestClient(create_read_app(settings_for(pg_url, cache_dir))) as client:
        for place_id in ("nowhere-aa", "nowhere-bb", "nowhere-aa"):
            assert client.get(f"/v1/places/{place_id}").status_code == 404
        assert client.get("/no/such/route").status_code == 404
        samples = scrape(client)
        template = {"handler": "/v1/places/{place_id}", "method": "GET", "status": "404"}
        assert value(samples, "http_requests_total", **template) == 3
        assert value(samples, "http_request_duration_seconds_count", **template) == 3
        assert value(samples, "http_requests_total", handler="none", method="GET", status="404") == 1
        assert not any(("handler", "/v1/places/nowhere-aa") in labels for _, labels in samples)
