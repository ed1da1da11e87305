"""Throwaway PostgreSQL and Redis servers that a test may stop and start.

The shared local servers serve every test session on the machine at once: stopping them would
break the others. These run on free ports from temporary directories and are removed afterwards.
PostgreSQL refuses to run as root, so as root its tools run as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
import sqlalchemy as sa

from tests.support.apps import free_port


class ThrowawayRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._answers, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def _answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


class ThrowawayPostgres:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="frontline-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            os.chown(self.root, pwd.getpwnam("postgres").pw_uid, -1)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)


def postgres_bin_dir() -> Path | None:
    """The directory of initdb and pg_ctl (Debian keeps them out of PATH), newest version first."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    found_all = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    versions = [d for d in found_all if d.parent.name.isdigit()]
    return max(versions, key=lambda d: int(d.parent.name)) if versions else None


def _wait(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


class ThrowawayStandby(ThrowawayPostgres):
    """A streaming hot standby of a ThrowawayPostgres, made with pg_basebackup, on its own port."""

    def __init__(self, primary: ThrowawayPostgres) -> None:
        super().__init__(primary.bin_dir)
        self.primary = primary

    def init(self) -> None:
        source = f"host=127.0.0.1 port={self.primary.port} user=postgres"
        self._run("pg_basebackup", "-d", source, "-D", str(self.data), "-R", "-X", "stream", "-c", "fast")

    def pause_replay(self) -> None:
        self._sql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self._sql("SELECT pg_wal_replay_resume()")

    def _sql(self, statement: str) -> None:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()
