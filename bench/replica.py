"""Scenario `replica`: how fresh a read from a hot standby is (READ_DATABASE_URL).

A primary and a streaming standby (pg_basebackup) made for the run on free ports, the production
shape on the primary (ingest-api, a `frontline worker`), and two read-APIs: one on the standby, one
on the primary. Reports come at 20 a second; after each answer, a GET of the claimed place with
`min_position` set to the answer's position measures the time until it is readable, on each
read-API. The limit is the same measure on the primary's read-API.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import orjson

from bench.common import RESULTS, BenchEnv, BenchError, Check, Figure, ScenarioResult, percentile
from bench.stack import HEADERS, frontline_env, migrate, production
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
    result.figures += [
        Figure(f"readable on the standby after the POST's answer, p{q}", percentile(on_standby, q), "ms",
               limit=percentile(on_primary, q), note="limit: on the primary")
        for q in (50, 99)
    ]  # fmt: skip
    result.checks.append(
        Check(
            "every write readable on both",
            len(on_standby) == len(on_primary) > 0,
            f"{len(on_standby)} writes",
        )
    )
    return result


def _measure(env: BenchEnv, primary_url: str, standby_url: str) -> dict[str, list[float]]:
    migrate(primary_url)
    apis = {
        "ingest-api": (["ingest-api"], {}),
        "primary": (["read-api"], {}),
        "standby": (["read-api"], {"READ_DATABASE_URL": standby_url}),
    }
    logs = RESULTS / f"replica-{env.run_id}"
    with production(frontline_env(primary_url), logs, f"bench-{env.run_id}-replica", apis) as stack:
        urls = {name: running.base_url for name, running in stack.apis.items()}
        return asyncio.run(_writes(urls, int(env.seconds(15) * RATE)))


async def _writes(urls: dict[str, str], count: int) -> dict[str, list[float]]:
    lags: dict[str, list[float]] = {"primary": [], "standby": []}
    async with httpx.AsyncClient(timeout=30) as http:
        start = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
            answer = await http.post(urls["ingest-api"] + "/v1/reports", content=_report(), headers=HEADERS)
            answered = time.monotonic()
            event = answer.json()["events"][0]
            path = f"/v1/places/{event['place_id']}?min_position={answer.json()['position']}"

            async def readable(name: str, path: str = path, answered: float = answered) -> None:
                if (await http.get(urls[name] + path)).status_code == 200:
                    lags[name].append((time.monotonic() - answered) * 1000)

            await asyncio.gather(readable("primary"), readable("standby"))  # side by side
    return lags


def _report() -> bytes:
    claim = {"place": f"Replica Bench {uuid.uuid4().hex[:8]}", "country": "IQ",
             "location": {"lat": 33.3, "lon": 44.4}, "actor": "ISF", "occurred_at": "2017-11-03"}  # fmt: skip
    return orjson.dumps({"id": uuid.uuid4().hex, "source": {"name": "bench"}, "claims": [claim]})
