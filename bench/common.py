"""What every scenario shares: its environment, PostgreSQL, machine facts, results, their table and record.

The rest of the harness: bench.stack (databases, servers, the production stack, the queue's
clean-up), bench.measure (the machine's limits, fingerprints, stage and CPU timing), bench.listen
(notifications heard, freshness), bench.paced (a paced HTTP client), bench.cpu (CPU per process
group), bench.wrk_runner (wrk), bench.corpus (the event logs), bench.ceiling (a bare ASGI server).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from bench.cpu import Usage

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
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

    def sqlalchemy_url(self, dbname: str) -> str:
        """The URL Frontline's engine takes (the services normalise it the same way)."""
        return self.url(dbname).replace("postgresql://", "postgresql+psycopg://", 1)

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
    # Latencies and cores are small numbers: their decimals are the figure.
    return f"{value:,.2f} {unit}" if unit in ("ms", "cores") else f"{value:,.0f} {unit}"


COLUMNS = ("figure", "value", "the run's limit", "ratio", "target", "met?")


def rows(result: ScenarioResult) -> Iterable[tuple[str, ...]]:
    """Each figure as the columns of the table printed and of BENCHMARKS.md's."""
    for f in result.figures:
        met = {None: "", True: "yes", False: "**no**"}[f.met]
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        yield f.name, _amount(f.value, f.unit), _amount(f.limit, f.unit), ratio, f.target_text, met


def render(result: ScenarioResult) -> None:
    table = Table(title=f"Scenario: {result.scenario}")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows(result):
        table.add_row(*row[:5], {"yes": "[green]yes[/]", "**no**": "[red]NO[/]"}.get(row[5], ""))
    console.print(table)
    for check in result.checks:
        mark = "[green]ok[/]" if check.ok else "[bold red]FAILED[/]"
        console.print(f"  {mark} {check.name}: {check.detail}")
    for note in result.notes:
        console.print(f"  [dim]note:[/] {note}")


def write_record(result: ScenarioResult, machine: dict[str, Any], env: BenchEnv) -> Path:
    """The run's record: every figure, check and detail as JSON, and its figures as the rows of
    BENCHMARKS.md's table (a .md beside it), to paste."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{result.scenario}-{env.run_id}.json"
    document = {"run_id": env.run_id, "quick": env.quick, "machine": machine, **result.as_dict()}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    lines = [f"| {' | '.join(row)} |" for row in (COLUMNS, ("---",) * len(COLUMNS), *rows(result))]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return path


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (the value q % of the sample is at or under); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def percentiles(values: Sequence[float], *qs: float, prefix: str = "") -> dict[str, float]:
    """{"<prefix>p50_ms": ..., ...} for each of `qs`."""
    return {f"{prefix}p{q:g}_ms": percentile(values, q) for q in qs}


def stepper(scenario: str) -> Callable[..., None]:
    """A scenario's progress line: `step("limit: %.0f rows/s", rate)`."""

    def step(message: str, *args: object) -> None:
        console.log(f"[bold]{scenario}[/] {message % args}", _stack_offset=2)  # the caller's line

    return step


def record_cpu(result: ScenarioResult, label: str, usage: Usage) -> None:
    """Who used the CPU during `label`: logged, noted, and kept in the record's details."""
    stepper(result.scenario)("CPU during the %s: %s", label, usage.describe())
    result.details.setdefault("cpu", {})[label] = usage.as_dict()
    result.notes.append(f"CPU during the {label}: {usage.describe()}")
