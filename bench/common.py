"""What every scenario shares: PostgreSQL, server subprocesses, machine facts, results and their table."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import redis
from psycopg import sql
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/0"  # the projector's doorbell in the production-shaped runs
# Piped output (make bench | tee) would otherwise be cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)


class BenchError(Exception):
    """The harness could not measure (a server did not start, a tool is missing...)."""


@dataclass(frozen=True)
class Postgres:
    """Where the benchmark databases live (BENCH_PGHOST, BENCH_PGPORT, BENCH_PGUSER, BENCH_PGPASSWORD)."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""

    @classmethod
    def from_env(cls) -> Postgres:
        return cls(
            host=os.environ.get("BENCH_PGHOST", cls.host),
            port=int(os.environ.get("BENCH_PGPORT", cls.port)),
            user=os.environ.get("BENCH_PGUSER", cls.user),
            password=os.environ.get("BENCH_PGPASSWORD", cls.password),
        )

    def url(self, dbname: str) -> str:
        auth = quote(self.user) + (":" + quote(self.password) if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname,
            autocommit=autocommit,
        )


@dataclass(frozen=True)
class BenchEnv:
    """What a scenario is given: the server to use and how long to measure."""

    pg: Postgres
    run_id: str
    quick: bool = False  # a smoke test of the harness: short runs, figures not worth quoting

    def seconds(self, full: float) -> float:
        return max(2.0, full / 5) if self.quick else full

    def repeats(self, full: int) -> int:
        return min(full, 2) if self.quick else full


def fresh_database(pg: Postgres, name: str) -> None:
    """Drop and create `name`; only bench_* databases, so a typo cannot drop real data."""
    if not name.startswith("bench_"):
        raise BenchError(f"refusing to drop {name!r}: benchmark databases are named bench_*")
    with pg.connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def frontline_env(pg: Postgres, dbname: str, **extra: str) -> dict[str, str]:
    """The environment of a `frontline` subprocess working on `dbname`."""
    env = dict(os.environ)
    # No Redis doorbell: scenarios measure one service at a time, and nothing would consume the jobs.
    env.pop("REDIS_URL", None)
    env.update(DATABASE_URL=pg.url(dbname), LOG_LEVEL="WARNING", **extra)
    return env


def migrate(pg: Postgres, dbname: str) -> None:
    """`frontline migrate` on `dbname`, run from the repository (its gazetteer cache is ./var/cache)."""
    done = subprocess.run(
        [str(BIN / "frontline"), "migrate"],
        env=frontline_env(pg, dbname),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"frontline migrate failed ({done.returncode}):\n{done.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Running:
    base_url: str
    session: int  # the session id of the server and its workers


@contextmanager
def server(args: list[str], env: dict[str, str], port: int, log_path: Path) -> Iterator[Running]:
    """Run a server subprocess until the block ends (normally or not).

    It runs in a session of its own, so that stopping it reaches its worker processes too and
    nothing else.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(proc, f"{base}/healthz", log_path)
            yield Running(base, session=proc.pid)
        finally:
            _stop(proc)


@contextmanager
def background(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process with no port to wait on (a projector worker) until the block ends.

    Like `server`, in a session of its own, stopped with everything it started.
    """
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
def production_shape(env: dict[str, str], logs: Path, queue: str) -> Iterator[dict[str, Running]]:
    """`frontline ingest-api`, `read-api` and a `worker` on the Redis queue `queue` (the run's own),
    as the compose stack runs them; all stopped, and the queue's keys removed, when the block ends.
    Yields the two APIs by command name."""
    with contextlib.ExitStack() as stack:
        stack.callback(forget_queue, queue)
        running = {}
        shaped = {**env, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}
        for kind in ("ingest-api", "read-api"):
            port = free_port()
            args = [str(BIN / "frontline"), kind, "--port", str(port)]
            running[kind] = stack.enter_context(server(args, shaped, port, logs.with_suffix(f".{kind}.log")))
        worker = [str(BIN / "frontline"), "worker"]
        stack.enter_context(background(worker, shaped, logs.with_suffix(".worker.log")))
        yield running


def forget_queue(queue: str) -> None:
    """Remove what RQ left in Redis under a run's unique queue name (and nothing else): its keys,
    its workers (and their executions), and its entries in RQ's sets of queues and workers."""
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        for key in connection.scan_iter(match=f"*{queue}*"):
            connection.delete(key)
        for worker in connection.scan_iter(match="rq:worker:*"):
            if (
                connection.type(worker) == b"hash"
                and queue in (connection.hget(worker, "queues") or b"").decode()
            ):
                connection.delete(worker, worker + b":executions")
                connection.srem("rq:workers", worker)
        connection.srem("rq:queues", f"rq:queue:{queue}")
    finally:
        connection.close()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise BenchError(f"server exited ({proc.returncode}) before it answered:\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
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


def machine_info(pg: Postgres) -> dict[str, Any]:
    """The facts a reader needs to weigh the figures; read afresh for every run."""
    with pg.connect("postgres") as conn:
        settings = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method", "shared_buffers")
        }
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory": _meminfo("MemTotal"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": settings.pop("server_version"),
        "postgresql_settings": settings,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "source": source_state(),
    }


def source_state() -> dict[str, str]:
    """Which code was measured: the commit, and a digest of the uncommitted changes to what runs
    (the diff, and the names of new files): several people work in one tree."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout

    diff = git("diff", "HEAD", "--", "services", "migrations")
    untracked = git("ls-files", "--others", "--exclude-standard", "services", "migrations")
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted": hashlib.sha256((diff + untracked).encode()).hexdigest()[:12]
        if diff or untracked
        else "none",
        "uncommitted_files": " ".join(git("status", "--porcelain", "services", "migrations").split()[1::2]),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo(key: str) -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def print_machine(info: dict[str, Any]) -> None:
    table = Table(title="Machine", show_header=False)
    for key, value in info.items():
        shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
        table.add_row(key, str(shown))
    console.print(table)


@dataclass
class Figure:
    """One measured figure, beside the machine's limit for the same work when there is one."""

    name: str
    value: float
    unit: str
    limit: float | None = None
    target: float | None = None  # on value / limit, unless `ceiling`
    strict: bool = False  # the ratio must exceed the target, not merely reach it
    note: str = ""
    # The target is a bound the value itself must stay under (a latency: "p99 under 200 ms"),
    # whatever the limit; the ratio is then shown for information.
    ceiling: bool = False

    @property
    def ratio(self) -> float | None:
        return self.value / self.limit if self.limit else None

    @property
    def met(self) -> bool | None:
        if self.ceiling:
            return None if self.target is None else self.value < self.target
        ratio = self.ratio
        if ratio is None or self.target is None:
            return None
        return ratio > self.target if self.strict else ratio >= self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        if self.ceiling:
            return f"< {_amount(self.target, self.unit)}"
        return f"{'>' if self.strict else '≥'} {self.target:g}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class Check:
    """A correctness condition of the run; a failed one makes the whole run fail."""

    name: str
    ok: bool
    detail: str


@dataclass
class ScenarioResult:
    scenario: str
    figures: list[Figure] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "ok": self.ok,
            "figures": [f.as_dict() for f in self.figures],
            "checks": [asdict(c) for c in self.checks],
            "notes": self.notes,
            "details": self.details,
        }


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} {unit}" if unit == "ms" else f"{value:,.0f} {unit}"


def render(result: ScenarioResult) -> None:
    table = Table(title=f"Scenario: {result.scenario}")
    for column in ("figure", "value", "machine limit", "ratio", "target", "met?"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for f in result.figures:
        met = {None: "", True: "[green]yes[/]", False: "[red]NO[/]"}[f.met]
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        table.add_row(f.name, _amount(f.value, f.unit), _amount(f.limit, f.unit), ratio, f.target_text, met)
    console.print(table)
    for check in result.checks:
        mark = "[green]ok[/]" if check.ok else "[bold red]FAILED[/]"
        console.print(f"  {mark} {check.name}: {check.detail}")
    for note in result.notes:
        console.print(f"  [dim]note:[/] {note}")


def write_json(result: ScenarioResult, machine: dict[str, Any], env: BenchEnv) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{result.scenario}-{env.run_id}.json"
    document = {"run_id": env.run_id, "quick": env.quick, "machine": machine, **result.as_dict()}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
