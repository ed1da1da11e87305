"""`make run`'s process: `frontline serve --dev` on SQLite, the embedded projector, `frontline demo`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.test_seed_article import wait_healthy
from tests.support.apps import free_port
from tests.support.wire import first_reads_whole
from tests.support.workers import stop


def test_serve_dev_on_sqlite_with_the_demo(tmp_path: Path, cache_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEYS", "_URL"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'frontline.db'}", CACHE_DIR=str(cache_dir), LOG_FORMAT="console"
    )
    cli = [sys.executable, "-m", "services.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, timeout=120)
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--dev", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        demo = subprocess.run(
            [*cli, "demo", "--url", base], env=env, capture_output=True, text=True, timeout=60
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert demo.stdout.startswith("stored: the seed article, 7 claims about 6 places")
        assert "contested: " in demo.stdout  # the demo waited for the projection, then read
        position = int(demo.stdout.split("log position ")[1].split(")")[0])
        contested = httpx.get(f"{base}/v1/contested", params={"min_position": position}, timeout=10)
        assert contested.status_code == 200
        assert [p["place_id"] for p in contested.json()["items"]] == ["albu-kamal-sy"]
        # Each answer leaves in one write (services.web.protocol), so it arrives in one piece.
        assert first_reads_whole("127.0.0.1", port, "/v1/contested", times=50) == 50
        keyless_write = httpx.post(f"{base}/v1/reports", json={}, timeout=10)
        assert keyless_write.status_code == 422  # open in dev mode: validation, not 401
    finally:
        stop(server)
        _, stderr = server.communicate(timeout=10)
    assert b"dev_mode" in stderr  # it says, when it starts, that writes need no key
