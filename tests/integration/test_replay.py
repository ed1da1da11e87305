"""Replay: rebuilt read models replace the live ones in one step, under load, missing nothing."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.combined import create_app
from services.ingest.app import create_app as create_ingest_app
from services.projector import rebuild
from services.store.database import Database
from services.store.read_models import tables
from tests.support.apps import ADMIN, INGEST, live_server, settings_for
from tests.support.workers import caught_up, wait_until, worker_env, workers

PLACES = ["Abu Kamal", "Rawa", "Mosul", "Raqqa", "Tadmur", "al-Qaim", "Deir ez-Zor", "Kobani"]
ACTORS = ["SAA", "IS", "SDF", "ISF", "PMF"]


def random_report(rnd: random.Random, claims: int = 5) -> dict[str, Any]:
    body = []
    for _ in range(claims):
        actor = rnd.choice(ACTORS)
        body.append({
            "place": rnd.choice(PLACES), "actor": actor, "share": rnd.choice([100, 60, 40, 25]),
            "from_actor": rnd.choice([a for a in ACTORS if a != actor]),
            "occurred_at": f"2017-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
        })  # fmt: skip
    return {"id": uuid.uuid4().hex, "source": {"name": "load"}, "claims": body}


def seed(http: httpx.Client, count: int, seed_value: int = 1) -> int:
    rnd, position = random.Random(seed_value), 0
    for _ in range(count):
        response = http.post("/v1/reports", json=random_report(rnd), headers=INGEST)
        assert response.status_code == 201, response.text
        position = response.json()["position"]
    hajin = {"place": "Hajin", "country": "SY", "location": {"lat": 34.69, "lon": 40.83}}
    both = [
        {**hajin, "actor": "SDF", "share": 70, "occurred_at": "2018-12-01"},
        {**hajin, "actor": "IS", "share": 30, "occurred_at": "2018-12-02"},
    ]
    return max(position, post_claims(http, both))


def post_claims(http: httpx.Client, claims: list[dict[str, Any]]) -> int:
    body = {"id": uuid.uuid4().hex, "source": {"name": "t"}, "claims": claims}
    response = http.post("/v1/reports", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def run_replay(http: httpx.Client) -> dict[str, Any]:
    started = http.post("/v1/admin/replay", headers=ADMIN)
    assert started.status_code == 202, started.text
    replay_id = started.json()["replay_id"]
    status: dict[str, Any] = {}

    def finished() -> bool:
        status.update(http.get(f"/v1/admin/replays/{replay_id}", headers=ADMIN).json())
        assert status["status"] != "failed", status
        return status["status"] == "done"

    wait_until(finished, 120, "the replay to finish")
    return status


def tamper(db: Database, place_ids: list[str]) -> None:
    """Make the live read model visibly wrong for these places: a replay must put it right."""
    ps = tables().place_state
    with db.transaction() as conn:
        for place_id in place_ids:
            row = conn.execute(sa.select(ps.c.holdings).where(ps.c.place_id == place_id)).scalar_one()
            wrong = [{**h, "share": 5000} for h in row]
            conn.execute(
                ps.update().where(ps.c.place_id == place_id).values(holdings=wrong, challenger_share=5000)
            )


@pytest.fixture
def stack(fresh_pg_url: str, cache_dir: Path) -> Iterator[tuple[str, Database]]:
    app = create_app(settings_for(fresh_pg_url, cache_dir, reconcile_interval=0.2, projection_batch_size=500))
    db = Database(fresh_pg_url)
    with live_server(app) as base:
        yield base, db
    db.dispose()


def test_replay_under_steady_reads_swaps_in_one_step(stack: tuple[str, Database]) -> None:
    base, db = stack
    with httpx.Client(base_url=base, timeout=30) as http:
        position = seed(http, 300)
        # Found through /v1/places: the first read of /v1/contested (below, after the tampering)
        # is the one that fills the list it keeps in memory (services.api.contested), which then
        # follows the change feed; the tampering, written behind the projector's back, is in it.
        listed = {"min_position": position, "limit": 1000, "status": "contested"}
        contested = http.get("/v1/places", params=listed).json()["items"]
        targets = [p["place_id"] for p in contested[:2]]
        assert len(targets) == 2
        tamper(db, targets)
        # A new read-model version (touching another place), so that answers cached before the
        # tampering are not served again.
        canary = {"place": "Canary", "country": "IQ", "location": {"lat": 33.0, "lon": 44.0}}
        bumped = post_claims(http, [{**canary, "actor": "ISF", "occurred_at": "2019"}])
        old = http.get("/v1/contested", params={"min_position": bumped, "limit": 1000}).json()
        assert _model(old, targets) == "old"
        answers: list[tuple[int, dict[str, Any]]] = []
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client(base_url=base, timeout=30) as reader:
                while not stop.is_set():
                    r = reader.get("/v1/contested", params={"limit": 1000})
                    answers.append((r.status_code, r.json() if r.status_code == 200 else {}))

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.3)
        status = run_replay(http)
        time.sleep(0.3)
        stop.set()
        poller.join()
    assert status["processed"] == status["total"] > 0
    assert all(code == 200 for code, _ in answers), {code for code, _ in answers}
    kinds = [_model(body, targets) for _, body in answers]
    assert set(kinds) <= {"old", "new"}, "an answer mixed the old and the new model"
    assert kinds[0] == "old" and kinds[-1] == "new"
    assert kinds == sorted(kinds, key=["old", "new"].index), "an old answer came after a new one"
    assert rebuild.verify(db) == []
    with db.snapshot() as conn:
        assert [n for n in sa.inspect(conn).get_table_names() if "__" in n] == []


def _model(body: dict[str, Any], targets: list[str]) -> str:
    tampered = [
        all(c["share"] == 50.0 for c in p["control"]) for p in body["items"] if p["place_id"] in targets
    ]
    if len(tampered) != len(targets):
        return "mixed"
    return "old" if all(tampered) else "new" if not any(tampered) else "mixed"


def test_replay_while_reports_arrive_misses_nothing(stack: tuple[str, Database]) -> None:
    base, db = stack
    with httpx.Client(base_url=base, timeout=30) as http:
        seed(http, 200)
        stop, positions = threading.Event(), []

        def write() -> None:
            rnd = random.Random(5)
            with httpx.Client(base_url=base, timeout=30) as writer:
                while not stop.is_set():
                    r = writer.post("/v1/reports", json=random_report(rnd, 3), headers=INGEST)
                    assert r.status_code == 201
                    positions.append(r.json()["position"])

        writer = threading.Thread(target=write)
        writer.start()
        run_replay(http)
        time.sleep(0.2)
        stop.set()
        writer.join()
        assert http.get("/v1/contested", params={"min_position": max(positions)}).status_code == 200
        projections = http.get("/v1/admin/projections", headers=ADMIN).json()["items"]
    assert positions
    assert [p["name"] for p in projections] == ["control"]
    assert projections[0]["generation"] == 1
    wait_until(lambda: caught_up(db), 30, "the projection to catch up")
    assert rebuild.verify(db) == []
    with db.snapshot() as conn:
        logged = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE type = 'ControlChanged'")
        ).scalar_one()
        rows = conn.execute(sa.select(sa.func.count()).select_from(tables().claims)).scalar_one()
    assert rows == logged


def test_a_swapped_in_set_has_the_live_sets_keys_and_indexes(stack: tuple[str, Database]) -> None:
    """A rebuild writes its rows into bare tables and indexes them afterwards (migration 0009):
    what is swapped in must be keyed and indexed as the live set was, replay after replay."""
    base, db = stack

    def definitions() -> dict[str, Any]:
        with db.snapshot() as conn:
            inspector = sa.inspect(conn)
            indexes = {t.name: inspector.get_indexes(t.name) for t in tables().all}
            return {
                t.name: (
                    inspector.get_pk_constraint(t.name),
                    sorted((i["name"], i["column_names"], i["unique"]) for i in indexes[t.name]),
                )
                for t in tables().all
            }

    before = definitions()
    assert before["rm_claims"][0]["constrained_columns"] == ["event_id"]
    assert before["rm_claims"][1], "the live claims table has its secondary index"
    with httpx.Client(base_url=base, timeout=30) as http:
        seed(http, 30)
        first = run_replay(http)
        after_one = definitions()
        second = run_replay(http)
    assert first["status"] == second["status"] == "done"
    assert after_one == before
    assert definitions() == before
    assert rebuild.verify(db) == []


def test_a_swapped_in_set_comes_with_the_planners_statistics(stack: tuple[str, Database]) -> None:
    """The replay analyzes the set it built before swapping it in: autovacuum would only a while
    later (never, where it is off, as on the test server), and until then the planner guesses, and
    the read API's change-feed query scanned every place at each step (docs/performance-notes.md)."""
    base, db = stack
    with httpx.Client(base_url=base, timeout=30) as http:
        seed(http, 30)
        assert run_replay(http)["status"] == "done"
    with db.snapshot() as conn:
        analyzed = dict(
            conn.execute(
                sa.text(
                    "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables"
                    " WHERE schemaname = current_schema()"
                )
            ).all()
        )
        columns = conn.execute(
            sa.text(
                "SELECT attname FROM pg_stats WHERE schemaname = current_schema()"
                " AND tablename = 'rm_place_state'"
            )
        ).scalars()
        assert "updated_position" in set(columns)
    assert {t.name: analyzed.get(t.name) for t in tables().all} == {t.name: True for t in tables().all}


def test_replay_on_sqlite_embedded(fresh_sqlite_url: str, cache_dir: Path) -> None:
    app = create_app(settings_for(fresh_sqlite_url, cache_dir, reconcile_interval=0.2))
    db = Database(fresh_sqlite_url)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        position = seed(http, 50)
        before = http.get("/v1/contested", params={"min_position": position}).json()
        status = run_replay(http)
        after = http.get("/v1/contested").json()
        # What a swap leaves when its process dies after committing and before dropping the old set.
        with db.transaction() as conn:
            conn.execute(sa.text('CREATE TABLE "rm_claims__old0123abcd" (x integer)'))
        again = run_replay(http)  # a second replay works on the swapped-in tables too
    assert status["status"] == again["status"] == "done"
    assert after == before
    assert rebuild.verify(db) == []
    with db.snapshot() as conn:
        names = sa.inspect(conn).get_table_names()
    assert {t.name for t in tables().all} <= set(names)
    assert [n for n in names if "__" in n] == [], "a replay left tables behind"
    db.dispose()


def test_replay_runs_on_an_rq_worker(
    fresh_pg_url: str, redis_url: str, queue_name: str, cache_dir: Path
) -> None:
    settings = settings_for(fresh_pg_url, cache_dir, redis_url=redis_url, queue_name=queue_name)
    env = worker_env(fresh_pg_url, redis_url, queue_name, cache_dir)
    with (
        workers(1, env),
        live_server(create_ingest_app(settings)) as base,
        httpx.Client(base_url=base) as http,
    ):
        seed(http, 20)
        status = run_replay(http)
    assert status["processed"] == status["total"] > 0
