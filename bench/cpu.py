"""Who used the CPU during a measurement: on a small machine that is usually what limits a figure.

Reads /proc (Linux): the machine's busy time, and the CPU time of chosen groups of processes (the
server's session, PostgreSQL's backends for one database). A process that starts and ends within
the measurement is missed, which is why wrk's own time comes from `getrusage` instead (see
`children_seconds`).

Beside a group's CPU time, the time its threads were ready to run but waited for a core (the
scheduler's run delay, /proc/<pid>/task/<tid>/schedstat): a server that takes less CPU under load
than without either had nothing to do (its clients were slow to ask) or was kept off the cores, and
only this tells the two apart. A thread that starts within the measurement counts whole (its delay
starts at zero); one that ends within it is missed, though its CPU time is not (a process's CPU
time keeps its ended threads'), so the waiting is a lower bound where threads come and go.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")

# (pid, session id, command line) -> whether the process belongs to the group
Member = Callable[[int, int, bytes], bool]


def in_session(session: int) -> Member:
    return in_sessions({session})


def in_sessions(sessions: set[int]) -> Member:
    return lambda _pid, s, _cmdline: s in sessions


def this_process() -> Member:
    me = os.getpid()
    return lambda pid, _s, _cmdline: pid == me


def postgres_for(dbname: str) -> Member:
    """PostgreSQL's backends serving `dbname`, and its background processes (WAL writer...)."""
    marker = f" {dbname} ".encode()

    def member(_pid: int, _session: int, cmdline: bytes) -> bool:
        background = b"(" not in cmdline  # a backend's title ends with its client's address
        return cmdline.startswith(b"postgres: ") and (marker in cmdline or background)

    return member


def children_seconds() -> float:
    """CPU time of this process's finished (waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Usage:
    seconds: float  # wall time
    machine_busy: float  # cores busy on average, all processes of the machine
    steal: float  # cores the hypervisor gave to other guests meanwhile (counted in machine_busy)
    groups: dict[str, float]  # cores used on average by each group
    # cores' worth of time each group's threads were ready to run but waited for a core
    waiting: dict[str, float] = field(default_factory=dict)

    @property
    def others(self) -> float:
        """Cores busy with anything but the groups: the noise of a shared machine."""
        return max(0.0, self.machine_busy - self.steal - sum(self.groups.values()))

    def describe(self) -> str:
        parts = ", ".join(f"{name} {cores:.2f}{self._waited(name)}" for name, cores in self.groups.items())
        return (
            f"{self.machine_busy:.2f} of {os.cpu_count()} cores busy: {parts}, everything else"
            f" {self.others:.2f}, stolen by the hypervisor {self.steal:.2f}"
        )

    def _waited(self, name: str) -> str:
        waited = self.waiting.get(name, 0.0)
        return f" [and {waited:.2f} waiting for a core]" if waited >= 0.005 else ""

    def as_dict(self) -> dict[str, float]:
        return {
            "seconds": self.seconds,
            "machine_busy": self.machine_busy,
            "steal": self.steal,
            "others": self.others,
            **self.groups,
            **{f"{name} waiting": waited for name, waited in self.waiting.items()},
        }


def combined(usages: list[Usage]) -> Usage:
    """Several measurements as one: averages weighted by their wall time."""
    wall = sum(u.seconds for u in usages)

    def mean(values: list[float]) -> float:
        return sum(v * u.seconds for v, u in zip(values, usages, strict=True)) / wall

    names = usages[0].groups
    return Usage(
        wall,
        mean([u.machine_busy for u in usages]),
        mean([u.steal for u in usages]),
        {name: mean([u.groups[name] for u in usages]) for name in names},
        {name: mean([u.waiting.get(name, 0.0) for u in usages]) for name in usages[0].waiting},
    )


class Meter:
    """`start()`, run the load, `stop()`: the average cores each group used meanwhile."""

    def __init__(self, groups: dict[str, Member]) -> None:
        self.groups = groups

    def start(self) -> None:
        self._wall = time.monotonic()
        self._machine = _machine_jiffies()
        self._procs = {name: _group_jiffies(member) for name, member in self.groups.items()}
        self._delays = {name: _group_run_delays(self._procs[name]) for name in self.groups}
        self._children = children_seconds()

    def stop(self, *, children_as: str | None = None) -> Usage:
        """What was used since `start`; `children_as` names the group of finished children (wrk)."""
        wall = time.monotonic() - self._wall
        busy, steal, total = (now - then for now, then in zip(_machine_jiffies(), self._machine, strict=True))
        groups, waiting = {}, {}
        for name, member in self.groups.items():
            before, after = self._procs[name], _group_jiffies(member)
            used = sum(ticks - before.get(pid, 0) for pid, ticks in after.items())
            groups[name] = used / TICK / wall
            waiting[name] = _delay_since(self._delays[name], _group_run_delays(after)) / 1e9 / wall
        if children_as:
            groups[children_as] = (children_seconds() - self._children) / wall
        cores = (os.cpu_count() or 1) / total if total else 0.0
        return Usage(wall, busy * cores, steal * cores, groups, waiting)


def _machine_jiffies() -> tuple[int, int, int]:
    """(busy, stolen, total) jiffies of all CPUs since boot."""
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, fields[7], sum(fields)


def _group_jiffies(member: Member) -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        # Fields after the command name (which may hold spaces): state ppid pgrp session ...
        rest = stat.rsplit(")", 1)[1].split()
        if member(int(entry.name), int(rest[3]), cmdline):
            found[int(entry.name)] = int(rest[11]) + int(rest[12])  # utime + stime
    return found


def _group_run_delays(pids: dict[int, int]) -> dict[int, int]:
    """Nanoseconds each thread of `pids` has waited for a core since it started, by thread id."""
    found = {}
    for pid in pids:
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                # on-CPU time, run delay, timeslices (all since the thread started)
                found[int(task.name)] = int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile, or a kernel without scheduler statistics
    return found


def _delay_since(before: dict[int, int], now: dict[int, int]) -> int:
    """Nanoseconds waited for a core since `before` by the threads of `now`. A thread new since
    then counts whole; so does one whose id was reused (less delay than before: another thread)."""
    total = 0
    for tid, ns in now.items():
        then = before.get(tid, 0)
        total += ns - then if ns >= then else ns
    return total
