"""`make compose-smoke`: build and run docker-compose.yml on this machine and check it end to end.

It starts the Docker engine when none answers (and stops it again at the end), provides the base
images the compose file names (pulled, or built as stand-ins from Debian's packages where no
registry answers: deploy/standins/), runs `up -d --build` with the compose file as it is, and
checks with a time limit each: every service healthy or completed, the seed report in through
127.0.0.1:8001, Abu Kamal SAA 60 / IS 40 out of 127.0.0.1:8000, three projector workers of which
one is killed while they work, the lag back to 0 and `frontline verify` clean, an admin replay
done, the event log refused to the services' database role, and `down -v` leaving nothing behind.

Only the standard library: it runs before any virtualenv exists (CI). The secrets are random per
run and never printed. The one thing added to the compose file is an override, written to a
temporary directory, that builds with the host's network: with `--iptables=false` the containers
have no route out, and `pip install` in the Dockerfile needs PyPI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from docker_host import (  # noqa: E402  (beside this script, on sys.path when it runs)
    SmokeFailed,
    compose_command,
    engine_answers,
    provide_base_images,
    replacing,
    run,
    start_engine,
    stop_engine,
    wait_until,
)

from services.seed import SEED_REPORT  # noqa: E402  (data only: no install needed)

PROJECT = "frontlinesmoke"  # compose v1 drops anything but [a-z0-9] from project names
OUR_SERVICES = ("migrate", "ingest", "api", "projector")
HEALTHY = ("postgres", "redis", "ingest", "api")
INGEST, READ = "http://127.0.0.1:8001", "http://127.0.0.1:8000"


@dataclass
class Smoke:
    compose: list[str]
    env: dict[str, str]
    workdir: Path
    results: list[tuple[str, float, str]] = field(default_factory=list)

    def compose_run(self, *args: str, timeout: float = 120) -> str:
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(self.workdir / "override.yml")]
        return run([*self.compose, "-p", PROJECT, *files, *args], timeout=timeout, env=self.env)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time a step; what it appends to the yielded list is printed as what it checked."""
        notes: list[str] = []
        print(f"… {name}", flush=True)
        started = time.monotonic()
        try:
            yield notes
        except Exception as exc:
            elapsed = time.monotonic() - started
            self.results.append((name, elapsed, f"FAILED: {exc}"))
            print(f"✗ {name} ({elapsed:.1f} s): {exc}", flush=True)
            raise SmokeFailed(name) from exc
        elapsed = time.monotonic() - started
        self.results.append((name, elapsed, "; ".join(notes)))
        print(f"✓ {name} ({elapsed:.1f} s): {'; '.join(notes)}", flush=True)


# --- HTTP ----------------------------------------------------------------------------------------


def http(method: str, url: str, key: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own http URLs)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- the stack ---------------------------------------------------------------------------------


def containers(smoke: Smoke) -> dict[str, list[dict[str, Any]]]:
    """The project's containers (stopped ones too) by compose service."""
    ids = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"]).split()
    found: dict[str, list[dict[str, Any]]] = {}
    for c in json.loads(run(["docker", "inspect", *ids])) if ids else []:
        found.setdefault(c["Config"]["Labels"]["com.docker.compose.service"], []).append(c)
    return found


def stack_ready(smoke: Smoke) -> bool:
    by_service = containers(smoke)
    for service, group in by_service.items():
        for c in group:
            state = c["State"]
            if state.get("Health", {}).get("Status") == "unhealthy" or (
                state["Status"] == "exited" and state["ExitCode"] != 0
            ):
                raise SmokeFailed(f"{service} {state['Status']} (exit {state['ExitCode']})")
    healthy = all(
        c["State"].get("Health", {}).get("Status") == "healthy"
        for s in HEALTHY
        for c in by_service.get(s, [{"State": {}}])
    )
    migrated = [c["State"]["Status"] for c in by_service.get("migrate", [])] == ["exited"]
    running = [c["State"]["Status"] for c in by_service.get("projector", [])] == ["running"]
    return healthy and migrated and running


def started(c: dict[str, Any], key: str = "StartedAt") -> datetime:
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", c["State"][key]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp)


def check_migrate_ran_once_first(smoke: Smoke) -> str:
    by_service = containers(smoke)
    (migrate,) = by_service["migrate"]
    if migrate["State"]["ExitCode"] != 0 or migrate["RestartCount"] != 0:
        raise SmokeFailed(f"migrate: exit {migrate['State']['ExitCode']}, {migrate['RestartCount']} restarts")
    finished = started(migrate, "FinishedAt")
    early = [s for s in ("ingest", "api", "projector") for c in by_service[s] if started(c) < finished]
    if early:
        raise SmokeFailed(f"started before migrate exited: {early}")
    return "migrate exited 0 once, before ingest, api and projector started"


def projection(admin_key: str) -> dict[str, Any]:
    status, body = http("GET", f"{INGEST}/v1/admin/projections", admin_key)
    if status != 200:
        raise SmokeFailed(f"GET /v1/admin/projections: {status} {body}")
    (control,) = [p for p in body["items"] if p["name"] == "control"]
    return dict(control)


def metric(name: str) -> float | None:
    with urllib.request.urlopen(f"{READ}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    found = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def abu_kamal(position: int) -> dict[str, float]:
    status, body = http("GET", f"{READ}/v1/places?q=Abu+Kamal&min_position={position}")
    if status != 200 or len(body["items"]) != 1:
        raise SmokeFailed(f"GET /v1/places?q=Abu Kamal: {status} {body}")
    return {holder["actor_id"]: holder["share"] for holder in body["items"][0]["control"]}


def post_reports(key: str, numbers: range) -> int:
    """Reports of ten claims each on new places (work for the projectors); the last position."""
    position = 0
    for r in numbers:
        claims = [
            {
                "place": f"Smoke Village {r}-{c}",
                "country": "SY",
                "location": {"lat": 34.0 + r / 1000, "lon": 40.0 + c / 1000},
                "actor": "SDF",
                "from_actor": "IS",
                "occurred_at": "2018-01-01",
            }
            for c in range(10)
        ]
        report = {"id": f"smoke-{r}", "source": {"name": "smoke"}, "claims": claims}
        status, body = http("POST", f"{INGEST}/v1/reports", key, report)
        if status != 201:
            raise SmokeFailed(f"POST /v1/reports: {status} {body}")
        position = body["position"]
    return position


def busy_projector(smoke: Smoke) -> str | None:
    """The container (by hostname, its short id) of an RQ worker running a job now, if any."""
    (redis,) = containers(smoke)["redis"]
    cli = ["docker", "exec", redis["Id"], "redis-cli"]  # raw replies, a line each: not a terminal
    for worker in run([*cli, "SMEMBERS", "rq:workers:frontline"]).split():
        state, hostname = run([*cli, "HMGET", worker, "state", "hostname"]).split("\n")[:2]
        if state == "busy":
            return hostname
    return None


def kill_a_working_projector(smoke: Smoke, key: str) -> str:
    """Post reports from a thread and kill the projector caught running a job (within 30 s; else
    any of them, said so). Reports go on after the kill: the two left must take the work over."""
    stop = threading.Event()
    posted: list[int] = []
    failures: list[Exception] = []

    def feed() -> None:
        batch = 0
        try:
            while not stop.is_set() and batch < 100:
                posted.append(post_reports(key, range(batch * 5, batch * 5 + 5)))
                batch += 1
        except Exception as exc:  # raised again in the step's thread
            failures.append(exc)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    deadline, hostname = time.monotonic() + 30, None
    while hostname is None and time.monotonic() < deadline and feeder.is_alive():
        hostname = busy_projector(smoke)
    running = [c for c in containers(smoke)["projector"] if c["State"]["Status"] == "running"]
    victim = next((c for c in running if c["Config"]["Hostname"] == hostname), running[0])
    run(["docker", "kill", victim["Id"]])
    time.sleep(3)
    stop.set()
    feeder.join(timeout=120)
    if failures:
        raise failures[0]
    how = "while it ran a job" if hostname else "(none caught running a job)"
    return f"killed {victim['Name'].lstrip('/')} {how}; {len(posted) * 50} claims posted"


def psql(container: str, user: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
    """`sql` through TCP in the postgres container, as `user` with a password (not the trusted
    socket). The password goes by name (`-e PGPASSWORD`), so it is on no command line."""
    cmd = ["docker", "exec", "-e", "PGPASSWORD", container, "psql", "-h", "127.0.0.1", "-U", user]
    cmd += ["-d", "frontline", "-v", "ON_ERROR_STOP=1", "-Atc", sql]
    env = {**os.environ, "PGPASSWORD": password}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)


def leftovers() -> list[str]:
    label = f"label=com.docker.compose.project={PROJECT}"
    found = run(["docker", "ps", "-aq", "--filter", label]).split()
    found += run(["docker", "volume", "ls", "-q", "--filter", label]).split()
    found += run(["docker", "network", "ls", "-q", "--filter", label]).split()
    return found


# --- the steps -----------------------------------------------------------------------------------


def check_stack(smoke: Smoke) -> None:
    keys = smoke.env
    with smoke.step("base images") as notes:
        notes += provide_base_images(smoke.workdir)

    with smoke.step("docker compose up -d --build") as notes:
        smoke.compose_run("down", "-v", "--remove-orphans", timeout=300)  # a previous run's leftovers
        with replacing("frontline:latest"):
            smoke.compose_run("up", "-d", "--build", timeout=900)
        notes.append("built frontline:latest and created the services")

    with smoke.step("every service healthy or completed") as notes:
        wait_until(
            "postgres, redis, ingest, api healthy; migrate exited; projector up",
            240,
            lambda: stack_ready(smoke),
        )
        notes.append("postgres, redis, ingest, api healthy; projector running")
        notes.append(check_migrate_ran_once_first(smoke))

    with smoke.step("seed demo POSTed to 127.0.0.1:8001") as notes:
        status, _ = http("POST", f"{INGEST}/v1/reports", None, SEED_REPORT)
        if status != 401:
            raise SmokeFailed(f"a report without a key answered {status}, not 401")
        status, body = http("POST", f"{INGEST}/v1/reports", keys["INGEST_API_KEYS"], SEED_REPORT)
        if status != 201:
            raise SmokeFailed(f"POST /v1/reports: {status} {body}")
        seed_position = int(body["position"])
        notes.append(
            f"401 without a key; 201 with it, {len(body['events'])} events up to position {seed_position}"
        )

    with smoke.step("Abu Kamal read from 127.0.0.1:8000") as notes:
        control = abu_kamal(seed_position)
        if control != {"syrian-arab-army": 60.0, "islamic-state": 40.0}:
            raise SmokeFailed(f"Abu Kamal control is {control}")
        notes.append("SAA 60 / IS 40")

    with smoke.step("--scale projector=3") as notes:
        smoke.compose_run("up", "-d", "--no-recreate", "--scale", "projector=3", timeout=300)
        wait_until(
            "three projector workers registered in RQ", 120, lambda: metric("frontline_queue_workers") == 3
        )
        notes.append("3 projector containers running, 3 RQ workers registered")

    with smoke.step("one projector killed while they work; lag back to 0") as notes:
        notes.append(kill_a_working_projector(smoke, keys["INGEST_API_KEYS"]))
        head = projection(keys["ADMIN_API_KEYS"])["head"]
        wait_until(
            "projection lag back to 0", 180, lambda: projection(keys["ADMIN_API_KEYS"])["lag_events"] == 0
        )
        caught_up = projection(keys["ADMIN_API_KEYS"])
        if caught_up["position"] < head or caught_up["status"] != "running":
            raise SmokeFailed(f"projection {caught_up}")
        notes.append(f"lag 0 at position {caught_up['position']}")
        states = sorted(c["State"]["Status"] for c in containers(smoke)["projector"])
        notes.append(f"projector containers now {', '.join(states)}")

    with smoke.step("frontline verify, in a projector container") as notes:
        alive = [c for c in containers(smoke)["projector"] if c["State"]["Status"] == "running"]
        out = run(["docker", "exec", alive[0]["Id"], "frontline", "verify"], timeout=300)
        notes.append(out.strip().splitlines()[-1])

    with smoke.step("admin replay through 127.0.0.1:8001") as notes:
        status, body = http("POST", f"{INGEST}/v1/admin/replay", keys["ADMIN_API_KEYS"], {})
        if status != 202:
            raise SmokeFailed(f"POST /v1/admin/replay: {status} {body}")
        url = f"{INGEST}/v1/admin/replays/{body['replay_id']}"

        def finished() -> dict[str, Any] | None:
            replay = http("GET", url, keys["ADMIN_API_KEYS"])[1]
            if replay["status"] == "failed":
                raise SmokeFailed(f"replay failed: {replay['error']}")
            return replay if replay["status"] == "done" else None

        replay = wait_until("replay done", 300, finished)
        notes.append(f"done, {replay['processed']}/{replay['total']} events")
        if abu_kamal(0) != {"syrian-arab-army": 60.0, "islamic-state": 40.0}:
            raise SmokeFailed("Abu Kamal changed in the replay")
        notes.append("Abu Kamal still SAA 60 / IS 40")

    with smoke.step("the services' role cannot change the log") as notes:
        (postgres,) = containers(smoke)["postgres"]
        app = ("frontline_app", keys["FRONTLINE_APP_PASSWORD"])
        counted = psql(postgres["Id"], *app, "SELECT count(*) FROM events")
        if counted.returncode != 0:
            raise SmokeFailed(f"frontline_app cannot read events: {counted.stderr}")
        for sql in ("UPDATE events SET type = type", "DELETE FROM events"):
            denied = psql(postgres["Id"], *app, sql)
            if denied.returncode == 0 or "permission denied" not in denied.stderr:
                raise SmokeFailed(f"{sql} as frontline_app: {denied.returncode} {denied.stderr}")
        notes.append(
            f"frontline_app reads {counted.stdout.strip()} events; UPDATE and DELETE: permission denied"
        )
        owner = psql(postgres["Id"], "frontline", keys["POSTGRES_PASSWORD"], "UPDATE events SET type = type")
        if owner.returncode == 0 or "immutable" not in owner.stderr:
            raise SmokeFailed(f"UPDATE as the owner: {owner.returncode} {owner.stderr}")
        notes.append("the owner's UPDATE: refused by the immutability trigger")


def tear_down(smoke: Smoke) -> None:
    with smoke.step("docker compose down -v") as notes:
        smoke.compose_run("down", "-v", "--remove-orphans", timeout=300)
        if left := leftovers():
            raise SmokeFailed(f"left behind: {left}")
        for port in (8000, 8001):
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2),
            ):
                raise SmokeFailed(f"127.0.0.1:{port} still answers")
        notes.append("no container, volume or network of the project left; 8000 and 8001 closed")


def show_logs(smoke: Smoke) -> None:
    with contextlib.suppress(SmokeFailed, subprocess.SubprocessError):
        print(smoke.compose_run("logs", "--no-color", "--tail", "40"))


def report(smoke: Smoke, total: float) -> None:
    print("\ncompose smoke:")
    for name, elapsed, what in smoke.results:
        print(f"  {elapsed:7.1f} s  {name}: {what}")
    print(f"  {total:7.1f} s  in all")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack up when a check fails")
    args = parser.parse_args()
    began = time.monotonic()
    engine: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="frontline-smoke-") as tmp:
        smoke = Smoke(compose=[], env=secrets_env(), workdir=Path(tmp))
        failed = False
        try:
            with smoke.step("docker engine") as notes:
                if engine_answers():
                    notes.append("already running")
                else:
                    engine = start_engine(ROOT / "var" / "compose-smoke" / "dockerd.log")
                    notes.append("started dockerd --storage-driver vfs --iptables=false")
                smoke.compose = compose_command()
                notes.append(f"compose: {' '.join(smoke.compose)}")
            write_override(smoke.workdir)
            check_stack(smoke)
        except SmokeFailed:
            failed = True
            show_logs(smoke)
        finally:
            if smoke.compose and not (failed and args.keep):
                with contextlib.suppress(SmokeFailed):
                    tear_down(smoke)
            if engine is not None and not (failed and args.keep):
                stop_engine(engine)
    report(smoke, time.monotonic() - began)
    ok = not failed and all(not what.startswith("FAILED") for _, _, what in smoke.results)
    print("compose smoke passed" if ok else "compose smoke FAILED")
    return 0 if ok else 1


def secrets_env() -> dict[str, str]:
    """The environment of every compose command: fresh secrets, reads open."""
    fresh = {
        name: secrets.token_hex(16)
        for name in ("POSTGRES_PASSWORD", "FRONTLINE_APP_PASSWORD", "INGEST_API_KEYS", "ADMIN_API_KEYS")
    }
    # With the vfs storage driver each container holds a whole copy of its image, and removing seven
    # at once kept the engine busy past compose v1's 60 s HTTP timeout once (`down -v` failed with
    # "Read timed out" while every container was in fact going): the commands' own timeouts bound them.
    patience = {"COMPOSE_HTTP_TIMEOUT": os.environ.get("COMPOSE_HTTP_TIMEOUT", "300")}
    return {**os.environ, **fresh, **patience, "READ_API_KEYS": ""}


def write_override(workdir: Path) -> None:
    """Build with the host's network (the only route to PyPI here); nothing else changes."""
    build = {"build": {"context": str(ROOT), "network": "host"}}
    services = dict.fromkeys(OUR_SERVICES, build)
    (workdir / "override.yml").write_text(json.dumps({"services": services}))  # JSON is YAML


if __name__ == "__main__":
    sys.exit(main())
