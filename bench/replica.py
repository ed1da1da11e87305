"""Scenario `replica`: how fresh a read from a hot standby is (READ_DATABASE_URL).

A primary and a streaming standby (pg_basebackup) made for the run on free ports, the production
shape on the primary (ingest-api, a `frontline worker`), and two read-APIs: one on the standby, one
on the primary. Reports come at 20 a second; after each answer, a GET of the claimed place with
`min_position` set to the answer's position measures the time until it is readable, on each
read-API. The limit is the same measure on the primary's read-API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from contextlib import ExitStack

import httpx
import orjson

from bench.common import (
    BIN,
    REDIS_URL,
    RESULTS,
    BenchEnv,
    BenchError,
    Check,
    Figure,
    ScenarioResult,
    background,
    forget_queue,
    free_port,
    server,
)
from bench.stream import KEY, percentile
from tests.support.servers import ThrowawayPostgres, ThrowawayStandby, postgres_bin_dir

RATE = 20.0


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("replica")
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise BenchError("PostgreSQL's initdb, pg_ctl and pg_basebackup are not installed")
    primary = ThrowawayPostgres(bin_dir)
    standby = ThrowawayStandby(primary)
    try:
        primary.init()
        primary.start()
        standby.init()
        standby.start()
        lags = _measure(env, primary.url, standby.url)
    finally:
        standby.destroy()
        primary.destroy()
    on_primary, on_standby = lags["primary"], lags["standby"]
    for p in (0.5, 0.99):
        name = f"readable on the standby after the POST's answer, p{round(p * 100)}"
        limit = percentile(on_primary, p)
        result.figures.append(
            Figure(name, percentile(on_standby, p), "ms", limit=limit, note="limit: on the primary")
        )
    result.checks.append(
        Check(
            "every write readable on both",
            len(on_standby) == len(on_primary) > 0,
            f"{len(on_standby)} writes",
        )
    )
    return result


def _measure(env: BenchEnv, primary_url: str, standby_url: str) -> dict[str, list[float]]:
    queue = f"bench-{env.run_id}-replica"
    base_env = {"DATABASE_URL": primary_url, "LOG_LEVEL": "WARNING", "INGEST_API_KEYS": KEY}
    base_env |= {"REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}
    logs = RESULTS / f"replica-{env.run_id}"
    process_env = {**os.environ, **base_env}
    migrated = subprocess.run(
        [str(BIN / "frontline"), "migrate"], env=process_env, capture_output=True, check=False
    )
    if migrated.returncode != 0:
        raise BenchError(f"migrate failed: {migrated.stderr[-2000:]!r}")
    with ExitStack() as stack:
        stack.callback(forget_queue, queue)
        urls = {}
        for name, extra in (("ingest", {}), ("primary", {}), ("standby", {"READ_DATABASE_URL": standby_url})):
            port = free_port()
            kind = "ingest-api" if name == "ingest" else "read-api"
            args = [str(BIN / "frontline"), kind, "--port", str(port)]
            log = logs.with_suffix(f".{name}.log")
            urls[name] = stack.enter_context(server(args, {**process_env, **extra}, port, log)).base_url
        stack.enter_context(
            background([str(BIN / "frontline"), "worker"], process_env, logs.with_suffix(".worker.log"))
        )
        return asyncio.run(_writes(urls, int(env.seconds(15) * RATE)))


async def _writes(urls: dict[str, str], count: int) -> dict[str, list[float]]:
    lags: dict[str, list[float]] = {"primary": [], "standby": []}
    async with httpx.AsyncClient(timeout=30) as http:
        start = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
            place = f"Replica Bench {uuid.uuid4().hex[:8]}"
            claim = {"place": place, "country": "IQ", "location": {"lat": 33.3, "lon": 44.4}, "actor": "ISF",
                     "occurred_at": "2017-11-03"}  # fmt: skip
            body = orjson.dumps({"id": uuid.uuid4().hex, "source": {"name": "bench"}, "claims": [claim]})
            headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
            answer = await http.post(urls["ingest"] + "/v1/reports", content=body, headers=headers)
            answered = time.monotonic()
            event = answer.json()["events"][0]
            path = f"/v1/places/{event['place_id']}?min_position={answer.json()['position']}"

            async def readable(name: str, path: str = path, answered: float = answered) -> None:
                if (await http.get(urls[name] + path)).status_code == 200:
                    lags[name].append((time.monotonic() - answered) * 1000)

            await asyncio.gather(readable("primary"), readable("standby"))  # side by side
    return lags
