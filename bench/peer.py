"""The peer: the `eventsourcing` library (PostgreSQL persistence) storing the same events.

One process, 16 threads, each saving one ControlChanged event of its own Place aggregate per call,
with the data Frontline stores for the wrk script's single-claim reports. It runs in-process: no
HTTP, no request parsing, no validation; only the library's own path from aggregate to database.
Its recorder takes `LOCK TABLE ... IN EXCLUSIVE MODE` in each insert for the same reason Frontline's
trigger takes its advisory lock: notification ids in commit order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench import payloads
from bench.common import Postgres


class Place(Aggregate):
    @event("Registered")
    def __init__(self, place_id: str) -> None:
        self.place_id = place_id
        self.last_claim: dict[str, Any] | None = None

    @event("ControlChanged")
    def change_control(self, claim: dict[str, Any]) -> None:
        self.last_claim = claim


class Places(Application[UUID]):
    pass


def settings(pg: Postgres, dbname: str, threads: int) -> dict[str, str]:
    """The library's configuration (by environment, passed to the Application instead)."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password,
        "CREATE_TABLE": "y",
        # A connection for every thread: the pool must not be what limits it.
        "POSTGRES_POOL_SIZE": str(threads),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


@dataclass
class PeerRun:
    threads: int
    saved: int  # ControlChanged events the threads saw saved
    seconds: float
    stored: int  # ControlChanged events in the table afterwards
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.saved / self.seconds if self.seconds else 0.0


def run(pg: Postgres, dbname: str, threads: int, seconds: float) -> PeerRun:
    app = Places(env=settings(pg, dbname, threads))
    try:
        places = [Place(f"place-{t}") for t in range(threads)]
        app.save(*places)  # the Registered events: before the clock starts, and not counted
        saved, elapsed, errors = _hammer(app, places, seconds)
        stored = _count_events(app) - threads
    finally:
        app.close()
    return PeerRun(threads=threads, saved=sum(saved), seconds=max(elapsed), stored=stored, errors=errors)


def _hammer(app: Places, places: list[Place], seconds: float) -> tuple[list[int], list[float], list[str]]:
    """Every thread saves events of its own place for `seconds`; what each saved and took."""
    start = threading.Barrier(len(places))
    saved = [0] * len(places)
    elapsed = [0.0] * len(places)
    errors: list[str] = []

    def work(t: int) -> None:
        start.wait()
        began = time.perf_counter()
        try:
            while time.perf_counter() - began < seconds:
                n = saved[t]
                place = places[t]
                place.change_control(payloads.event_data_fast(f"peer-{t}-{n}", 0, payloads.wrk_claim(n)))
                app.save(place)
                saved[t] = n + 1
        except Exception as exc:
            errors.append(f"thread {t}: {exc!r}")
        elapsed[t] = time.perf_counter() - began

    workers = [threading.Thread(target=work, args=(t,), name=f"peer-{t}") for t in range(len(places))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return saved, elapsed, errors


def _count_events(app: Places) -> int:
    recorder: Any = app.recorder
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) AS n FROM {recorder.events_table_name}")
        row = cur.fetchone()
    return int(row["n"])
