"""Part of scenario `live`: what one read of the change feed costs the read API's process.

The read API reads the change feed each time the read models move (services.api.stream): 37 times
a second while 200 reports a second arrive, on the same loop, and so the same core, as its pollers.
This measures that read in-process, as `ChangeBroadcast` makes it (a snapshot through the async
driver: the version, the places changed since, their names, noted by an answer cache), with
`CHANGES` places changed since the last read, beside the limit: the same statements, with the same
parameters, sent by raw psycopg (async) on one connection, rows fetched and nothing made of them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from bench.common import Figure, Postgres, ScenarioResult
from services.api import reads
from services.api.cache import ReadCache
from services.api.filters import PlaceFilters
from services.api.position import PositionWatch, read_version
from services.api.stream import ChangeBroadcast
from services.config import Settings
from services.store import places as place_store
from services.store.backend import backend_of
from services.store.database import LoopSnapshots
from services.store.read_models import PROJECTION, projections, tables
from services.web.runtime import Runtime

CHANGES = 6  # places changed since the previous read: 200 reports/s over 37 reads a second
READS, WARM_UP = 500, 50


def measure(pg: Postgres, dbname: str, result: ScenarioResult) -> None:
    runtime = Runtime.start(Settings(database_url=pg.sqlalchemy_url(dbname)))
    try:
        frontline, after = asyncio.run(_frontline(runtime))
        statements = _statements(runtime, after)
    finally:
        runtime.close()
    raw = asyncio.run(_raw(pg.url(dbname), statements))
    result.figures.append(
        Figure(f"read API: CPU per read of the change feed ({CHANGES} changes)", frontline * 1e3, "ms",
               limit=raw * 1e3, note="limit: the same statements by raw async psycopg, rows only")
    )  # fmt: skip


async def _frontline(runtime: Runtime) -> tuple[float, int]:
    """CPU seconds per read, and the position the reads start after."""
    broadcast = ChangeBroadcast(runtime, PositionWatch(), ReadCache())
    snapshots = LoopSnapshots(runtime.read_db)
    try:
        after = await snapshots.run(lambda conn: read_version(conn).position) - CHANGES
        for _ in range(WARM_UP):
            await snapshots.run(lambda conn: broadcast._read_news(conn, after))
        began = time.process_time()
        for _ in range(READS):
            await snapshots.run(lambda conn: broadcast._read_news(conn, after))
        return (time.process_time() - began) / READS, after
    finally:
        await snapshots.close()


def _statements(runtime: Runtime, after: int) -> list[tuple[str, dict[str, Any]]]:
    """The read's three statements as SQL text and parameters, as SQLAlchemy sends them."""
    with runtime.read_db.snapshot() as conn:
        changes = reads._changes_query(backend_of(conn), tables(), PlaceFilters(), False)
        ids = [r.place_id for r in conn.execute(changes, {"after": after, "limit": 1001})]
        upto = read_version(conn).position
    queries = [
        sa.select(projections).where(projections.c.name == PROJECTION),
        changes.params(after=after, limit=1001),
        place_store._names_query(True, True, False).params(wanted=sorted(ids), upto=upto),
    ]
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    expanded = [q.compile(dialect=dialect).construct_expanded_state() for q in queries]
    return [(state.statement, dict(state.parameters)) for state in expanded]


async def _raw(url: str, statements: list[tuple[str, dict[str, Any]]]) -> float:
    """CPU seconds per read: BEGIN (repeatable read, read only), the statements, COMMIT."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)

        async def read() -> None:
            for sql, params in statements:
                await (await conn.execute(sql, params)).fetchall()
            await conn.commit()

        for _ in range(WARM_UP):
            await read()
        began = time.process_time()
        for _ in range(READS):
            await read()
        return (time.process_time() - began) / READS
