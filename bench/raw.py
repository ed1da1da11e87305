"""The machine's limits: Frontline's rows written by bare psycopg 3 into a plain table.

`raw_events` has the columns, keys and indexes of `events` but none of its triggers (no log lock, no
stream numbering in the database): what PostgreSQL on this machine does for the same rows when
nothing else stands in the way. Only the database work is timed; rows are built beforehand.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from bench import payloads
from bench.common import Postgres
from services.domain.events import CONTROL_CHANGED, CURRENT_VERSION
from services.domain.occurred import parse_occurred

TABLE = "raw_events"
COLUMNS = (
    "position",
    "event_id",
    "type",
    "schema_version",
    "stream_id",
    "stream_version",
    "occurred_at",
    "occurred_precision",
    "occurred_start",
    "recorded_at",
    "request_id",
    "target_event_id",
    "data",
)


def insert_into(table: str) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
    )


def create_table(pg: Postgres, dbname: str) -> None:
    """`raw_events` in a database already migrated (LIKE copies no triggers)."""
    with pg.connect(dbname) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE events INCLUDING ALL)").format(sql.Identifier(TABLE)))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # the encoder Frontline's engine uses


class Rows:
    """Rows as Frontline appends them, positions and stream versions numbered as its trigger would."""

    def __init__(self) -> None:
        self._positions = itertools.count(1)
        self._versions: dict[str, int] = defaultdict(int)

    def row(self, report_id: str, index: int, claim: dict[str, Any]) -> tuple[Any, ...]:
        data = payloads.event_data_fast(report_id, index, claim)
        occurred = parse_occurred(data["occurred_at"])
        stream = data["place_id"]
        self._versions[stream] += 1
        return (
            next(self._positions),
            str(uuid.uuid4()),
            CONTROL_CHANGED,
            CURRENT_VERSION[CONTROL_CHANGED],
            stream,
            self._versions[stream],
            occurred.text,
            occurred.precision,
            occurred.start,
            datetime.now(UTC),
            report_id,
            None,
            Jsonb(data, dumps=_json),
        )

    def single_claim_reports(self, prefix: str, ahead: int) -> Iterator[tuple[Any, ...]]:
        """Endless rows of one-claim reports like the wrk script's: `ahead` of them built now (so
        that a timed loop only takes them), the rest as they are asked for."""
        built = [self.row(f"{prefix}-{n}", 0, payloads.wrk_claim(n)) for n in range(ahead)]
        later = (self.row(f"{prefix}-{n}", 0, payloads.wrk_claim(n)) for n in itertools.count(ahead))
        return itertools.chain(built, later)

    def big_report(self, report_id: str, size: int) -> list[tuple[Any, ...]]:
        """The rows of one report of `size` varied claims."""
        return [self.row(report_id, i, payloads.varied_claim(i)) for i in range(size)]


def serial_commits(
    conn: psycopg.Connection[Any], pending: Iterator[tuple[Any, ...]], seconds: float
) -> float:
    """Limit A: insert and commit one row at a time for `seconds`; rows/s."""
    insert = insert_into(TABLE)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        conn.execute(insert, next(pending))
        conn.commit()
        count += 1
    return count / (time.perf_counter() - start)


def batch_commit(conn: psycopg.Connection[Any], batch: list[tuple[Any, ...]], table: str = TABLE) -> float:
    """Limit B: `executemany` of `batch` in one transaction; the seconds it took to commit.

    With `table="events"` the same rows go through the log's triggers (which draw the position,
    stream version and time afresh): not a limit, but how much of a gap the triggers explain.
    """
    start = time.perf_counter()
    with conn.cursor() as cur:
        cur.executemany(insert_into(table), batch)
    conn.commit()
    return time.perf_counter() - start
