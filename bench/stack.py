"""The processes a scenario runs: fresh databases, `frontline` servers and workers, the production stack.

Every process runs in a session of its own, so that stopping it reaches its worker processes too
and nothing else; it is stopped when its block ends, normally or not. A production stack works on a
Redis queue of the run's own, whose keys are removed afterwards (Redis is shared: nothing else) by
the tests' own clean-up, tests.support.redis_keys.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from psycopg import sql
from rq import Queue, Worker

from bench.common import BIN, REPO, BenchError, Postgres
from tests.support import redis_keys

REDIS_URL = "redis://127.0.0.1:6379/0"  # the projector's doorbell in the production stack
KEY = "bench"  # the ingest API key of every scenario's servers
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}  # a POST's
# A server: its `frontline` arguments (a free --port is added) and its own environment.
Api = tuple[list[str], dict[str, str]]
PRODUCTION: dict[str, Api] = {"ingest-api": (["ingest-api"], {}), "read-api": (["read-api"], {})}


def frontline(*args: str) -> list[str]:
    return [str(BIN / "frontline"), *args]


def frontline_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `frontline` process working on `database_url`."""
    env = dict(os.environ)
    # No Redis doorbell unless asked for: nothing would consume the jobs.
    env.pop("REDIS_URL", None)
    env.update({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "INGEST_API_KEYS": KEY})
    env.update(extra)
    return env


def fresh_database(pg: Postgres, name: str) -> None:
    """Drop and create `name`; only bench_* databases, so a typo cannot drop real data."""
    if not name.startswith("bench_"):
        raise BenchError(f"refusing to drop {name!r}: benchmark databases are named bench_*")
    with pg.connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate(database_url: str) -> None:
    """`frontline migrate`, run from the repository (its gazetteer cache is ./var/cache)."""
    done = subprocess.run(
        frontline("migrate"),
        env=frontline_env(database_url),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"frontline migrate failed ({done.returncode}):\n{done.stderr[-3000:]}")


def fresh_migrated(pg: Postgres, name: str) -> None:
    fresh_database(pg, name)
    migrate(pg.url(name))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Running:
    base_url: str
    session: int  # the session id of the server and its workers

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.base_url.removeprefix("http://").split(":")
        return host, int(port)


@contextmanager
def background(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process (its output to `log_path`) until the block ends."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            _stop(proc)


@contextmanager
def server(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[Running]:
    """Run a server on a free port (`--port N` added to `args`) once it answers /healthz."""
    port = free_port()
    with background([*args, "--port", str(port)], env, log_path) as proc:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(proc, f"{base}/healthz", log_path)
        yield Running(base, session=proc.pid)


@dataclass(frozen=True)
class Stack:
    apis: dict[str, Running]  # by the name given in `production`'s `apis`
    workers: list[int]  # the workers' session ids

    @property
    def ingest(self) -> Running:
        return self.apis["ingest-api"]

    @property
    def read(self) -> Running:
        return self.apis["read-api"]


@contextmanager
def production(
    env: dict[str, str], logs: Path, queue: str, apis: dict[str, Api] = PRODUCTION, workers: int = 1
) -> Iterator[Stack]:
    """The servers `apis` (by default `frontline ingest-api` and `read-api`) and `workers` times
    `frontline worker` on the Redis queue `queue` (the run's own), as the compose stack runs them;
    yielded once the workers are registered; all stopped, and the queue forgotten, at the end."""
    shaped = {**env, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}
    with ExitStack() as stack:
        stack.callback(forget_queue, queue)
        # RQ's throttle keys a worker sets (with a TTL), unless they were there before the run.
        stack.callback(redis_keys.delete_throttles, REDIS_URL, redis_keys.throttles_present(REDIS_URL))
        running = {
            name: stack.enter_context(
                server(frontline(*args), {**shaped, **extra}, logs.with_suffix(f".{name}.log"))
            )
            for name, (args, extra) in apis.items()
        }
        procs = [
            stack.enter_context(background(frontline("worker"), shaped, logs.with_suffix(f".worker{n}.log")))
            for n in range(workers)
        ]
        wait_for_workers(queue, workers)
        yield Stack(running, [p.pid for p in procs])


def wait_for_workers(queue: str, count: int, timeout: float = 60) -> None:
    connection = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while len(Worker.all(connection=connection, queue=Queue(queue, connection=connection))) < count:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{count} worker(s) did not register on queue {queue} within {timeout:.0f} s"
                )
            time.sleep(0.2)
    finally:
        connection.close()


def forget_queue(queue: str) -> None:
    """Remove what RQ left in Redis under a run's queue (and nothing else), as the tests do: its
    keys, its jobs', its workers' and their entries in RQ's sets."""
    redis_keys.delete_queue_keys(REDIS_URL, queue)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise BenchError(f"server exited ({proc.returncode}) before it answered:\n{tail}")
        with suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"server did not answer {url} within {timeout:.0f} s (log: {log_path})")


def _stop(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    group = proc.pid  # start_new_session: the leader's pid is the group's id
    _signal_group(group, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _signal_group(group, signal.SIGKILL)
        proc.wait()
    # A worker that outlived its supervisor would keep the port and its database connections.
    _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # the group is gone already
        os.killpg(group, sig)
