"""Running wrk with a request script, and reading what it says and what it was answered."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import REPO, BenchError

SCRIPTS = REPO / "bench" / "wrk"
TRACKED = SCRIPTS / "tracked.lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds
_AMOUNT = r"([\d.]+)(us|ms|s|m|h)"


@dataclass
class WrkRun:
    requests: int  # answers wrk read, whatever their status
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]
    statuses: dict[int, int]  # from the tracking script
    created_ids: list[str] = field(repr=False)
    output: str = field(repr=False)

    @property
    def created(self) -> int:
        return len(self.created_ids)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def bytes_read(self) -> float:
        found = re.search(r"requests in [\d.]+\w+, ([\d.]+)([KMG]?B) read", self.output)
        if not found:
            return 0.0
        return float(found[1]) * {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[found[2]]

    @property
    def latencies(self) -> dict[str, float]:
        """wrk's latency distribution (50, 75, 90, 99 %), in ms."""
        found = re.findall(rf"^\s*(50|75|90|99)%\s+{_AMOUNT}\s*$", self.output, re.MULTILINE)
        return {f"p{q}": _ms(v, u) for q, v, u in found}

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "statuses": self.statuses,
            "created": self.created,
            "output": self.output,
        }


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed: apt-get install wrk")
    return path


def _command(url: str, script: Path, seconds: float, threads: int, connections: int) -> list[str]:
    return [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        # wrk drops answers slower than its timeout (2 s by default) from every figure, and the
        # durability check would then miss them: a slow answer must be counted as slow.
        "--timeout=30s",
        "--latency",
        f"-s{script}",
        url,
    ]


def _wrk(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def run(
    url: str,
    script: str,
    args: list[str],
    env: dict[str, str],
    *,
    seconds: float,
    threads: int,
    connections: int,
) -> WrkRun:
    """wrk with `script` (a file in bench/wrk/) wrapped by tracked.lua, against `url`."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        answers = Path(tmp) / "answers"
        command = [*_command(url, TRACKED, seconds, threads, connections), "--", *args]
        output = _wrk(
            command, {**env, "BENCH_WRK_SCRIPT": str(SCRIPTS / script), "BENCH_WRK_OUT": str(answers)}
        )
        if not answers.exists():
            raise BenchError(f"wrk wrote no answers:\n{output}")
        statuses, created = _read_answers(answers.read_text())
    return _parse(output, statuses, created)


def run_untracked(
    url: str, script: str, env: dict[str, str], *, seconds: float, threads: int, connections: int
) -> WrkRun:
    """wrk with `script` alone: no Lua runs per answer, so a fast server is measured, not wrk's
    Lua. Nothing is known of the answers but wrk's own counts (statuses stay empty)."""
    return _parse(_wrk(_command(url, SCRIPTS / script, seconds, threads, connections), env), {}, [])


def _read_answers(text: str) -> tuple[dict[int, int], list[str]]:
    statuses: dict[int, int] = {}
    created: list[str] = []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "status":
            code, count = rest.split()
            statuses[int(code)] = statuses.get(int(code), 0) + int(count)
        elif kind == "created":
            created.append(rest)
    return statuses, created


def _ms(amount: str, unit: str) -> float:
    return float(amount) * _UNITS[unit]


def _parse(output: str, statuses: dict[int, int], created: list[str]) -> WrkRun:
    total = re.search(rf"(\d+) requests in {_AMOUNT}", output)
    p50 = re.search(rf"^\s*50%\s+{_AMOUNT}", output, re.MULTILINE)
    p99 = re.search(rf"^\s*99%\s+{_AMOUNT}", output, re.MULTILINE)
    if not (total and p50 and p99):
        raise BenchError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    kinds = ("connect", "read", "write", "timeout")
    socket_errors = dict(zip(kinds, map(int, errors.groups()), strict=True)) if errors else {}
    return WrkRun(
        requests=int(total[1]),
        seconds=_ms(total[2], total[3]) / 1e3,
        p50_ms=_ms(p50[1], p50[2]),
        p99_ms=_ms(p99[1], p99[2]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=socket_errors,
        statuses=statuses,
        created_ids=created,
        output=output,
    )
