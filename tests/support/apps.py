"""Building apps, clients and live servers against a test database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn

from services.config import Settings
from services.store.schema import events
from services.web.protocol import OneWriteProtocol

INGEST_KEY = "test-ingest-key"
ADMIN_KEY = "test-admin-key"
READ_KEY = "test-read-key"
INGEST = {"Authorization": f"Bearer {INGEST_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def settings_for(database_url: str, cache_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: explicit values only, nothing from the developer's environment."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": None,
        "cache_dir": cache_dir,
        "ingest_api_keys": [INGEST_KEY],
        "admin_api_keys": [ADMIN_KEY],
        "read_api_keys": [],
        "log_format": "console",
        "dev_mode": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def log_snapshot(database_url: str) -> list[tuple[Any, ...]]:
    """Every row of the event log, to compare before and after a request that must write nothing."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(events).order_by(events.c.position))]
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port in a thread, through the servers' own HTTP protocol;
    yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, http=OneWriteProtocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
