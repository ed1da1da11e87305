"""The read API's position follower: NOTIFY payloads are news only for their own schema."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.api.position import Follower, PositionWatch, Version
from services.store import checkpoints
from services.store.database import Database
from services.store.read_models import PROJECTION
from tests.support.databases import postgres_schema


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_parse_notice_reads_what_notify_sends_and_nothing_else() -> None:
    assert checkpoints.parse_notice("ft_ab:control:3:1200") == checkpoints.Notice("ft_ab", "control", 3, 1200)
    assert checkpoints.parse_notice("a:b:c:control:0:7") == checkpoints.Notice("a:b:c", "control", 0, 7)
    for junk in ("", "12", "control:1:2", "s:control:x:2", "s:control:1:-2"):
        assert checkpoints.parse_notice(junk) is None


def test_a_follower_takes_its_own_schema_s_notices_and_ignores_others(postgres_server: str) -> None:
    with postgres_schema(postgres_server) as mine, postgres_schema(postgres_server) as other:
        db, other_db = Database(mine), Database(other)
        watch = PositionWatch()
        # A long poll interval: whatever the watch learns within the test, it learns from NOTIFY.
        follower = Follower(db, watch, poll_interval=30)
        follower.start()
        try:
            time.sleep(0.3)  # LISTEN in place
            with other_db.transaction() as conn:
                checkpoints.notify(conn, PROJECTION, 0, 999)
            time.sleep(0.3)
            assert watch.version == Version(0, 0), "another schema's notice moved this schema's watch"
            with db.transaction() as conn:
                checkpoints.notify(conn, PROJECTION, 0, 42)
            assert wait_until(lambda: watch.version == Version(0, 42))
            with db.transaction() as conn:
                checkpoints.notify(conn, "control__build", 0, 77)  # a replay's build: not served
            time.sleep(0.3)
            assert watch.version == Version(0, 42)
        finally:
            follower.stop()
            db.dispose()
            other_db.dispose()
