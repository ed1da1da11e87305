"""The Docker side of `make compose-smoke`: the engine, the compose command and the base images
the stack names (pulled, or built as stand-ins from deploy/standins/ where no registry answers),
and the process helpers the smoke shares. Standard library only."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ROOT / "deploy" / "standins"
BASE_TAG = "frontline-standin/debian:bookworm"
STANDIN_LABEL = "org.frontline.standin"  # the recipe's hash: a changed recipe is rebuilt
# image the compose file names -> its stand-in recipe under deploy/standins/
STANDIN_RECIPES = {"python:3.11-slim": "python", "postgres:16": "postgres", "redis:7": "redis"}
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


class SmokeFailed(Exception):
    pass


def run(cmd: list[str], timeout: float = 120, env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        # Both streams: a failed image build says why on stdout (pip's error), and stops on stderr.
        said = "\n".join(t for t in (tail(done.stdout, 25), tail(done.stderr)) if t)
        raise SmokeFailed(f"{' '.join(cmd[:4])} … exited {done.returncode}: {said}")
    return done.stdout


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def wait_until(what: str, limit: float, check: Callable[[], Any]) -> Any:
    """Poll `check` each second until it returns something truthy; fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        with contextlib.suppress(OSError, ValueError):
            if result := check():
                return result
        if time.monotonic() > deadline:
            raise SmokeFailed(f"{what}: not within {limit:.0f} s")
        time.sleep(1)


def engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def start_engine(log: Path) -> subprocess.Popen[bytes]:
    """dockerd as this machine runs it: vfs (no overlay in this sandbox), no iptables."""
    if shutil.which("dockerd") is None:
        raise SmokeFailed("no Docker engine: apt-get install docker.io")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        engine = subprocess.Popen(
            ["dockerd", "--storage-driver", "vfs", "--iptables=false"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until(f"dockerd answering (log: {log})", 60, engine_answers)
    return engine


def compose_command() -> list[str]:
    """The compose v2 plugin when the docker CLI has it, else Debian's docker-compose 1.29."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SmokeFailed("no compose: apt-get install docker-compose (or the compose v2 plugin)")


def image_label(tag: str) -> str | None:
    """None when the image is absent; '' for an image that is not a stand-in (a pulled one)."""
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return None
    return str((json.loads(out.stdout) or {}).get(STANDIN_LABEL, ""))


def recipe_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()[:16]


def provide_base_images(workdir: Path) -> list[str]:
    """Each base image the stack names: kept when there (a registry's, or a stand-in of the current
    recipe), else pulled, else built as a stand-in; those build side by side (apt and disk bound)."""
    notes, builds = [], {}
    for tag, recipe in STANDIN_RECIPES.items():
        context = standin_context(recipe, workdir)
        wanted = recipe_hash(STANDINS / "base.sh", context)
        found = image_label(tag)
        if found == "":
            notes.append(f"{tag}: present (registry image)")
        elif found == wanted:
            notes.append(f"{tag}: stand-in cached")
        elif pulled(tag):
            notes.append(f"{tag}: pulled")
        else:
            builds[tag] = (context, wanted)
    if builds:
        notes.append(timed(f"{BASE_TAG}: debootstrap", provide_debian_base))
        with ThreadPoolExecutor() as pool:
            notes += pool.map(
                lambda item: timed(f"{item[0]}: stand-in built", build_standin, *item), builds.items()
            )
    return notes


def pulled(tag: str) -> bool:
    """From a registry, if one answers within a minute (here none does: the lookup fails at once)."""
    try:
        return subprocess.run(["docker", "pull", tag], capture_output=True, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def timed(what: str, action: Callable[..., Any], *args: Any) -> str:
    began = time.monotonic()
    action(*args)
    return f"{what} ({time.monotonic() - began:.0f} s)"


def build_standin(tag: str, recipe: tuple[Path, str]) -> None:
    context, label = recipe
    build = ["docker", "build", "--network", "host", "--label", f"{STANDIN_LABEL}={label}"]
    with replacing(tag):
        run([*build, "--build-arg", f"BASE={BASE_TAG}", "-t", tag, str(context)], timeout=900)


def image_id(tag: str) -> str | None:
    found = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


@contextlib.contextmanager
def replacing(tag: str) -> Iterator[None]:
    """Remove the image `tag` named before the block once the block gave the tag to another: with
    the vfs driver each superseded build would otherwise keep gigabytes on disk, run after run."""
    before = image_id(tag)
    yield
    if before is not None and image_id(tag) != before:
        subprocess.run(["docker", "image", "rm", before], capture_output=True)  # in use: it stays


def standin_context(recipe: str, workdir: Path) -> Path:
    """The recipe's folder; the python one with this machine's own CAs (extra-ca/) copied in."""
    if recipe != "python":
        return STANDINS / recipe
    context = workdir / "python-standin"
    shutil.copytree(STANDINS / recipe, context, dirs_exist_ok=True)
    (context / "extra-ca").mkdir(exist_ok=True)
    for ca in sorted(LOCAL_CAS.glob("*.crt")):
        shutil.copy(ca, context / "extra-ca" / ca.name)
    return context


def provide_debian_base() -> None:
    wanted = recipe_hash(STANDINS / "base.sh")
    if image_label(BASE_TAG) != wanted:
        run([str(STANDINS / "base.sh"), BASE_TAG, wanted], timeout=600)


def stop_engine(engine: subprocess.Popen[bytes]) -> None:
    engine.terminate()
    try:
        engine.wait(timeout=60)
    except subprocess.TimeoutExpired:
        engine.kill()
