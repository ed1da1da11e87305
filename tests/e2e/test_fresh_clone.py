"""The README's first steps on a fresh clone: `make run`, then `.venv/bin/frontline demo`.

The committed HEAD of this tree is cloned into an empty folder (no `.venv`, no `var/`), `make run`
starts there on a free port, the demo posts the seed article, the contested list shows Abu Kamal
split SAA 60 / IS 40, and SIGINT (Ctrl-C) stops the server cleanly. What only a developer's tree
has (a migrated `./var/`, a built cache, an installed venv) cannot help it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from services.config import Settings
from tests.conftest import IN_CI
from tests.support.apps import free_port

ROOT = Path(__file__).resolve().parents[2]
# A fresh machine's `make run` installs, migrates and builds the gazetteer cache: minutes on a
# loaded machine, most of it pip.
READY_WITHIN = 600


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def committed_head() -> str:
    try:
        return git("rev-parse", "--verify", "HEAD")
    except (AssertionError, FileNotFoundError) as exc:
        message = f"the tree under test is not a git checkout with a commit ({exc})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def user_environment(**values: str) -> dict[str, str]:
    """This process's environment without Frontline's settings, the venv and the outer make's
    flags: what a new user's shell has. The pip cache (in HOME) is kept, so installs are local."""
    settings = {name.upper() for name in Settings.model_fields}
    dropped = {"VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k not in settings | dropped}
    env.update(values)
    return env


def wait_ready(base: str, make: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        assert make.poll() is None, f"make run exited ({make.returncode}):\n{log.read_text()[-4000:]}"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{base}/readyz did not answer 200 within {READY_WITHIN} s")


def server_of(make: subprocess.Popen[bytes]) -> int:
    """The pid of `frontline serve`, the child `make run` started (Linux /proc)."""
    children = Path(f"/proc/{make.pid}/task/{make.pid}/children").read_text().split()
    for pid in children:
        if b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError(f"make run has no `frontline serve` child (children: {children})")


@pytest.mark.slow
@pytest.mark.timeout(READY_WITHIN + 180)
def test_make_run_then_the_demo_on_a_fresh_clone(tmp_path: Path) -> None:
    head = committed_head()
    clone = tmp_path / "frontline"
    git("clone", "--quiet", "--no-checkout", str(ROOT), str(clone))
    git("checkout", "--quiet", "--detach", head, cwd=clone)
    assert not (clone / "var").exists() and not (clone / ".venv").exists()

    port = free_port()
    env = user_environment(PORT=str(port))
    log = tmp_path / "make-run.log"
    started = time.monotonic()
    with log.open("wb") as output:
        make = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, make, log)
        ready_after = time.monotonic() - started
        # The README's try-it step, as written: PORT reaches it as it reached `make run`.
        demo = subprocess.run(
            [".venv/bin/frontline", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=120
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "Traceback" not in demo.stdout + demo.stderr
        position = re.search(r"log position (\d+)", demo.stdout)
        assert position, demo.stdout
        contested = httpx.get(f"{base}/v1/contested", params={"min_position": position[1]}, timeout=10)
        assert contested.status_code == 200
        [abu_kamal] = contested.json()["items"]
        shares = {c["actor_id"]: c["share"] for c in abu_kamal["control"]}
        assert abu_kamal["place_id"] == "albu-kamal-sy"
        assert shares == {"syrian-arab-army": 60, "islamic-state": 40}

        os.kill(server_of(make), signal.SIGINT)  # what Ctrl-C sends
        assert make.wait(60) == 0  # the server exited 0, so make did too
    finally:
        if make.poll() is None:
            make.kill()
            make.wait(10)
    output_text = log.read_text()
    assert "Traceback" not in output_text, output_text[-4000:]
    assert (clone / "var" / "frontline.db").exists()
    print(f"fresh clone: ready after {ready_after:.0f} s, done after {time.monotonic() - started:.0f} s")
