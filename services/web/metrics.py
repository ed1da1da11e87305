"""Prometheus metrics at `GET /metrics`.

- HTTP requests by route template, method and status, with latencies (`RouteMetrics`: the
  instrumentator's names, labels and route resolution, counted with prometheus_client directly).
- The log, the projection and the queue, read when scraped (a Collector), so that every process of
  every service tells the same truth and nothing is counted twice or lost with a restart:
  `frontline_events_appended_total` (the log's head position: each appended event draws the next
  one; an append rolled back leaves a gap), `frontline_projection_lag_events` and `_seconds` (how far
  and how long the oldest unprojected event waits), `frontline_queue_depth`, and
  `frontline_queue_failed_jobs`.

Each app has a registry of its own, so that apps built in one process (tests) never collide.
HTTP counters are per process: run one server process per container, as docker-compose.yml does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator.routing import get_route_name
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import lag as projection_lag
from services.store.database import Database
from services.store.errors import StoreUnavailable
from services.store.read_models import PROJECTION
from services.web.context import ServiceApp
from services.web.runtime import Runtime


def install(app: ServiceApp) -> None:
    """Count requests by route and serve the metrics, unauthenticated, at GET /metrics."""
    registry = CollectorRegistry()
    app.add_front_middleware(RouteMetrics, registry=registry)
    registry.register(StateCollector(lambda: app.context.runtime if app.context else None))

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text exposition: requests, events appended, projection lag, queue."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# Seconds. The instrumentator's default (0.1, 0.5, 1) cannot tell a cached read from a slow query.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NOT_COUNTED = frozenset({"/metrics"})  # scrapes would count themselves


class RouteMetrics:
    """`http_requests_total` and `http_request_duration_seconds` by method, status and route
    template (the instrumentator's names and labels; a path no route matches counts as "none").

    prometheus-fastapi-instrumentator's own middleware cost about 40 % of a cached read (a Request,
    a Response and an Info built per request, label children looked up each time; measured
    in-process). This keeps its route resolution (`get_route_name`, which knows
    FastAPI's nested routers), remembered per method and path, and the label children per
    (method, status, route): a request costs two dict lookups and two observations.
    """

    REMEMBERED = 4096  # paths whose route is remembered (ids make paths many)

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        labels = ("method", "status", "handler")
        self.requests = Counter("http_requests_total", "HTTP requests", labels, registry=registry)
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration, to the end of the answer",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._handlers: dict[tuple[str, str], str] = {}
        self._children: dict[tuple[str, int, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handler = self._handler(scope)
        if handler in NOT_COUNTED:
            await self.app(scope, receive, send)
            return
        status = 500  # if the app fails before answering, the server answers 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            requests, latency = self._observers(scope["method"], status, handler)
            requests.inc()
            latency.observe(time.perf_counter() - started)

    def _handler(self, scope: Scope) -> str:
        key = (scope["method"], scope["path"])
        handler = self._handlers.get(key)
        if handler is None:
            handler = get_route_name(Request(scope), should_include_root_path=False) or "none"
            if len(self._handlers) >= self.REMEMBERED:
                self._handlers.clear()
            self._handlers[key] = handler
        return handler

    def _observers(self, method: str, status: int, handler: str) -> tuple[Any, Any]:
        key = (method, status, handler)
        found = self._children.get(key)
        if found is None:
            labels = (method, str(status), handler)
            found = self._children[key] = (self.requests.labels(*labels), self.latency.labels(*labels))
        return found


class StateCollector(Collector):
    """The log, projection and queue figures, read from the app's database and Redis per scrape."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self.runtime = runtime  # None while the app is not running

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to read before the app has started

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime()
        if runtime is None:
            return
        up = GaugeMetricFamily(
            "frontline_dependency_up", "1 if the scrape could read it", labels=["dependency"]
        )
        found = list(log_metrics(runtime.db))
        up.add_metric(["database"], 1 if found else 0)
        yield from found
        if runtime.redis is not None:
            queued = list(queue_metrics(runtime.redis, runtime.settings.queue_name))
            up.add_metric(["redis"], 1 if queued else 0)
            yield from queued
        yield up


def log_metrics(db: Database) -> list[Metric]:
    """The log's head and each projection's position and lag (nothing if the database is down)."""
    try:
        with db.snapshot() as conn:
            found = projection_lag.lags(conn, always=[PROJECTION])
    except (StoreUnavailable, sa.exc.SQLAlchemyError):
        return []
    head = found[0].head  # the same for each: one snapshot
    appended = CounterMetricFamily(
        "frontline_events_appended", "Events appended to the log (its head position)", value=head
    )
    return [appended, *_lag_families(found, projection_lag.now())]


def _lag_families(found: list[projection_lag.Lag], now: datetime) -> list[Metric]:
    labels = ["projection"]
    position = GaugeMetricFamily("frontline_projection_position", "Last log position folded", labels=labels)
    lag = GaugeMetricFamily("frontline_projection_lag_events", "Events not yet folded", labels=labels)
    seconds = GaugeMetricFamily(
        "frontline_projection_lag_seconds", "Age of the oldest event not yet folded (0: none)", labels=labels
    )
    stopped = GaugeMetricFamily(
        "frontline_projection_failed", "1 if stopped by a failing event", labels=labels
    )
    for each in found:
        position.add_metric([each.name], each.position)
        lag.add_metric([each.name], each.waiting.events)
        seconds.add_metric([each.name], each.waiting.seconds(now))
        stopped.add_metric([each.name], 1 if each.stopped else 0)
    return [position, lag, seconds, stopped]


def queue_metrics(connection: redis.Redis, queue_name: str) -> list[Metric]:
    """Jobs waiting, running and failed on the projector's queue, and its workers (nothing if
    Redis is down). Counts only: no job is read or cleaned up by a scrape."""
    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    try:
        counts = {
            "depth": queue.count,
            "started": StartedJobRegistry(queue=queue).get_job_count(cleanup=False),
            "failed": FailedJobRegistry(queue=queue).get_job_count(cleanup=False),
            "workers": Worker.count(queue=queue),
        }
    except redis.RedisError:
        return []
    described = {
        "depth": ("frontline_queue_depth", "Jobs waiting on the queue"),
        "started": ("frontline_queue_started_jobs", "Jobs running"),
        "failed": ("frontline_queue_failed_jobs", "Jobs in the failed job registry"),
        "workers": ("frontline_queue_workers", "Workers listening on the queue"),
    }
    found: list[Metric] = []
    for key, (name, documentation) in described.items():
        family = GaugeMetricFamily(name, documentation, labels=["queue"])
        family.add_metric([queue_name], counts[key])
        found.append(family)
    return found
