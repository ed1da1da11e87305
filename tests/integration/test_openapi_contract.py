"""The combined app against its own OpenAPI document, with schemathesis (ASGI transport, in process).

Every operation of `/openapi.json` goes through schemathesis' examples, coverage and fuzzing
phases; then the stateful phase chains operations along the document's links (a report's event is
corrected, retracted and read; see services/ingest/examples.py) and those schemathesis infers. Every
request carries the ingest key (the admin routes get the admin key), so writes are exercised and
reads accept it. The database is seeded with the seed article first, so that reads have data, and
the generators are given the seed's ids and some ISO 8601 times (schemathesis "dictionaries") so
that many requests get past validation: the 200s of reads and the 201s of writes are checked too.
Reports name real places and actors (the dictionaries below, and the document's examples), so
the write path is reached: reports, corrections and retractions are recorded, and at the end the
read models built along the way must equal a rebuild from the log.

Runs are deterministic: a fixed seed, Hypothesis derandomized, no example database, no shrinking.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.python import asgi
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from services.combined import create_app
from services.projector import rebuild
from services.seed import SEED_REPORT
from services.store.database import Database
from services.store.migrations import upgrade
from tests.support.apps import ADMIN, INGEST, settings_for
from tests.support.workers import caught_up, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SEED = 20171117
FUZZ_EXAMPLES = 20  # per operation; the coverage phase adds what the schema's boundaries call for
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 8
STATEFUL_MIN_REQUESTS = 250  # explorations are started until this many stateful requests have run
STATEFUL_ATTEMPTS = 6
WITHOUT_SHRINKING = [hypothesis.Phase.explicit, hypothesis.Phase.generate]  # see "no-shrink" in CONFIG

CHECKS = {
    "not_a_server_error": True,
    "status_code_conformance": True,
    "content_type_conformance": True,
    "response_schema_conformance": True,
    "response_headers_conformance": True,
    "negative_data_rejection": True,
    # Off: it demands a 2xx for every request the schema allows, and this API validates more than a
    # schema can say, by design: a `cursor` must be one the API issued (any other string is a 400),
    # an `occurred_at` may not be in the future, a name needs a letter or a digit. Those answers are
    # declared (400/422, problem+json) and every other check still applies to them.
    "positive_data_acceptance": False,
    "missing_required_header": True,
    "unsupported_method": True,
    "allow_header_conformance": True,
    "use_after_free": True,
    "ensure_resource_availability": True,
    # Off: with the security scheme declared, this check re-sends each case without its key through
    # a plain HTTP transport (it ignores the in-process app); tests/integration/test_auth_matrix.py
    # walks every route with no key, a wrong key and each role's key instead.
    "ignored_auth": False,
    # Off: it needs two identities whose resources are private to each other; every key here reads
    # everything.
    "object_level_authorization": False,
}

PLACE_IDS = ["mosul-iq", "ar-raqqah-sy", "al-qaim-iq", "deir-ez-zor-sy", "albu-kamal-sy", "rawah-iq"]
ACTOR_IDS = ["iraqi-security-forces", "syrian-arab-army", "islamic-state", "syrian-democratic-forces"]
PLACE_NAMES = ["Mosul", "Raqqa", "Abu Kamal", "Rawa", "al-Qaim", "Deir ez-Zor", "Albu Kamal", "Tadmur"]
ACTOR_NAMES = ["IS", "SDF", "Syrian Army", "Iraqi forces", "coalition", "PMF", "Peshmerga"]
TIMES = ["2017", "2017-07", "2017-11-09", "2017-11-10", "2017-11-17T12:00:00Z", "2016-01-01"]
# Cursors shaped like the API's own (base64url of a JSON list), most of which it never issued.
CURSORS = [
    base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    for key in (["mosul-iq"], [3], [], ["x", "y"], [None], [{}], [-5], [10**30])
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # Hypothesis' health checks judge a generator's speed and data sizes: requests through a whole
        # app with a database are slow by their standard, and API inputs are large and filtered on purpose.
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
        # Derandomized, no example database, no shrinking: the same cases on every run and machine.
        # (Shrinking replays requests against a server whose state has moved on since, which makes
        # Hypothesis report flakiness instead of the failure, and takes minutes.)
        "generation": {"deterministic": True, "database": "none", "no-shrink": True},
        "headers": INGEST,
        # The admin routes refuse the ingest key (403): with the admin key they get exercised too.
        "operations": [{"include-tag": "admin", "headers": ADMIN}],
        "checks": {name: {"enabled": enabled} for name, enabled in CHECKS.items()},
        "dictionaries": {
            "places": {"values": PLACE_IDS},
            "actors": {"values": ACTOR_IDS},
            "place_names": {"values": PLACE_NAMES},
            "actor_names": {"values": ACTOR_NAMES},
            "countries": {"values": ["IQ", "SY"]},
            "times": {"values": TIMES},
            "cursors": {"values": CURSORS},
        },
        "parameters": {
            "path.place_id": {"dictionary": "places", "probability": 0.5},
            "path.actor_id": {"dictionary": "actors", "probability": 0.5},
            "query.actor": {"dictionary": "actors", "probability": 0.3},
            "query.as_of": {"dictionary": "times", "probability": 0.5},
            "query.known_at": {"dictionary": "times", "probability": 0.3},
            "query.cursor": {"dictionary": "cursors", "probability": 0.5},
            # A report is all or nothing, and has several claims: each field of each must be
            # valid for it to be recorded, so names and times come from the dictionaries nearly
            # always (the coverage phase and the rest still send the invalid ones).
            "body.claims[*].occurred_at": {"dictionary": "times", "probability": 0.97},
            "body.claims[*].place": {"dictionary": "place_names", "probability": 0.97},
            "body.claims[*].actor": {"dictionary": "actor_names", "probability": 0.97},
            "body.claims[*].from_actor": {"dictionary": "actor_names", "probability": 0.9},
            "body.claims[*].supporting_actors[*]": {"dictionary": "actor_names", "probability": 0.97},
            "body.claims[*].country": {"dictionary": "countries", "probability": 0.9},
            "body.changes.place": {"dictionary": "place_names", "probability": 0.9},
            "body.changes.actor": {"dictionary": "actor_names", "probability": 0.9},
            "body.changes.from_actor": {"dictionary": "actor_names", "probability": 0.9},
            "body.changes.supporting_actors[*]": {"dictionary": "actor_names", "probability": 0.9},
            "body.changes.country": {"dictionary": "countries", "probability": 0.8},
            "body.changes.occurred_at": {"dictionary": "times", "probability": 0.8},
            "body.source.published_at": {"dictionary": "times", "probability": 0.8},
        },
        "phases": {
            "examples": {"enabled": True, "fill-missing": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True, "generation": {"max-examples": FUZZ_EXAMPLES}},
            "stateful": {
                "enabled": True,
                "max-steps": STATEFUL_STEPS,
                # Valid data only: the scenarios are there to chain writes and reads along the
                # links (the other phases send the invalid data).
                "generation": {"max-examples": STATEFUL_EXAMPLES, "mode": "positive"},
            },
        },
    }
)


def _document() -> dict[str, Any]:
    # The document does not depend on the database: an app that never starts serves the same one,
    # which lets pytest collect one test per operation before any fixture has run (the other way,
    # `schemathesis.pytest.from_fixture`, fails on pytest 9.2: it sets `Function._nodeid`).
    # `served` checks that the app under test serves exactly this document.
    app = create_app(settings_for("postgresql+psycopg://unused@127.0.0.1:1/unused", Path("unused")))
    return app.openapi()


DOCUMENT = _document()
# The push stream never ends by design, so a case could not finish: tests/integration/test_stream.py
# checks it, its 422s and its auth instead.
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path="/v1/stream")

REQUESTS: Counter[str] = Counter()  # requests sent, by phase
ANSWERS: Counter[tuple[str, int]] = Counter()  # answers, by operation and status


class AsServed:
    """The app as uvicorn runs it: started once, and an exception escaping a request is a 500.

    Schemathesis' ASGI transport would start the app's lifespan on its first request and its pytest
    plugin ends it after every test, so the app (writer, projector, replays, pools) would be stopped
    and started again some twenty times. Here the `served` fixture runs the lifespan, once, and
    the transport's lifespan is answered without reaching the app. And where the transport would
    raise the app's exception, a server answers 500: that is what the checks should see.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            # The app logged it (services.web.access, in the captured log); Starlette has already
            # answered 500 unless the exception came before its error middleware.
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)


@contextmanager
def own_database(server_url: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database, dropped afterwards.

    A database rather than the usual schema: the read API follows the projection through
    LISTEN/NOTIFY, whose channel is shared by every schema of a database, so a projection moving in
    another test session's schema would move this app's position too.
    """
    name = f"ft_contract_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="module")
def database_url(postgres_server: str) -> Iterator[str]:
    with own_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def served(database_url: str, cache_dir: Path) -> Iterator[AsServed]:
    app = create_app(settings_for(database_url, cache_dir, reconcile_interval=0.2))
    with TestClient(app):  # runs the lifespan, for the whole module
        with asgi.get_client(AsServed(app)) as client:
            assert client.get("/openapi.json").json() == DOCUMENT
        yield AsServed(app)


@pytest.fixture(scope="module")
def seeded(served: AsServed) -> int:
    """The log position of the seed article, POSTed through the app, once the read models have it."""
    with asgi.get_client(served) as client:
        response = client.post("/v1/reports", json=copy.deepcopy(SEED_REPORT), headers=INGEST)
        assert response.status_code == 201, response.text
        position = int(response.json()["position"])
        reached = client.get("/v1/places", params={"min_position": position})
        assert reached.status_code == 200, reached.text
    return position


SEED_CLAIMS = SEED_REPORT["claims"]


def realistic(case: schemathesis.Case, step: int) -> None:
    """Every other report or correction of a scenario, made one the service records.

    A report is all or nothing, and each of its generated claims has half a dozen fields that must
    name a known place, actor and time: generated ones are nearly all refused, and the links from a
    recorded report (to correct, retract and read its events) are then never followed. So every
    other report carries seed claims (the rest of the body as generated), and every other correction
    of a real event (one a link gave: a UUID) changes its share only. The other half stay as
    generated, refusals included.
    """
    body = case.body
    if step % 2 or not isinstance(body, dict):
        return
    if case.method == "POST" and case.path == "/v1/reports":
        first = step % len(SEED_CLAIMS)
        body["claims"] = copy.deepcopy((SEED_CLAIMS * 2)[first : first + 1 + step % 3])
    elif case.method == "POST" and case.path == "/v1/corrections" and _is_uuid(body.get("event_id")):
        body["changes"] = {"share": 25 + step % 50, "note": "a later report"}


def _is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def without_waiting(case: schemathesis.Case, reached: int) -> None:
    """Keep `min_position` at a position the read models have reached.

    Given a later one, a read waits 5 s by design (contract §4) and then answers 503: a few dozen
    such cases would be minutes of sleeping. Other values (negative, not a number, ...) are sent as
    generated.
    """
    value = (case.query or {}).get("min_position")
    if isinstance(value, int) and not isinstance(value, bool) and value > reached:
        case.query["min_position"] = reached


# One test per operation. On pytest 9.2 they share one node id; their names, in failure headers and
# for `-k`, carry the operation: `-k "GET and places"`.
@schema.parametrize()
def test_operation_conforms(case: schemathesis.Case, served: AsServed, seeded: int) -> None:
    without_waiting(case, seeded)
    REQUESTS[str(case.meta.phase.name) if case.meta else "unknown"] += 1
    response = case.call(app=served)
    ANSWERS[(f"{case.method} {case.path}", response.status_code)] += 1
    case.validate_response(response)


def test_stateful_sequences_conform(served: AsServed, seeded: int) -> None:
    # Failures are collected and the scenarios go on: raising one would make Hypothesis replay the
    # scenario, whose steps depend on answers from a server that has changed since (and it then
    # reports "inconsistent data generation" instead of the failure).
    found: dict[tuple[str, frozenset[str]], str] = {}  # (operation, failure titles) -> the report

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            without_waiting(case, seeded)
            realistic(case, REQUESTS["stateful"])
            REQUESTS["stateful"] += 1

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": served}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            ANSWERS[(f"{case.method} {case.path}", response.status_code)] += 1

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            try:
                super().validate_response(response, case, *args, **kwargs)
            except* AssertionError as group:
                titles = frozenset(str(getattr(e, "title", type(e).__name__)) for e in group.exceptions)
                found.setdefault((f"{case.method} {case.path}", titles), str(group))

    # A scenario's next steps depend on the answers to its earlier ones, and the server's state moves
    # on, so Hypothesis eventually finds a choice it made before leading elsewhere and stops with
    # `Flaky`: as schemathesis' own runner does, take that as the end of one exploration, then start
    # another with the first operations in another order, until enough steps have run.
    for attempt in range(STATEFUL_ATTEMPTS):
        if REQUESTS["stateful"] >= STATEFUL_MIN_REQUESTS:
            break
        Workflow.rule_order_seed = SEED + attempt
        with contextlib.suppress(hypothesis.errors.Flaky):
            Workflow.run(
                settings=hypothesis.settings(
                    max_examples=STATEFUL_EXAMPLES,
                    stateful_step_count=STATEFUL_STEPS,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=WITHOUT_SHRINKING,
                    suppress_health_check=list(hypothesis.HealthCheck),
                )
            )
    if found:
        reports = [f"{operation}:\n{report}" for (operation, _), report in sorted(found.items())]
        pytest.fail(f"{len(found)} distinct failures in the stateful phase\n\n" + "\n\n".join(reports))


def test_every_phase_ran() -> None:
    if not REQUESTS:
        pytest.skip("the other tests of this module were not selected")
    print("requests by phase:", dict(REQUESTS))
    assert set(REQUESTS) >= {"examples", "coverage", "fuzzing", "stateful"}, REQUESTS


def test_the_write_path_was_reached_and_the_read_models_hold(served: AsServed, database_url: str) -> None:
    if not REQUESTS:
        pytest.skip("the other tests of this module were not selected")
    print("answers:", sorted(ANSWERS.items()))
    for operation in ("POST /v1/reports", "POST /v1/corrections", "POST /v1/retractions"):
        assert ANSWERS[(operation, 201)] > 0, f"{operation} never recorded anything"
    assert not [answer for answer in ANSWERS if answer[1] >= 500], ANSWERS
    # Everything those writes did to the read models, incrementally, is what a rebuild of the log
    # gives: no write the fuzzers got through left the projection inconsistent.
    with asgi.get_client(served) as client:
        head = client.get("/v1/events", params={"after": 0, "limit": 1}).headers["X-Projection-Position"]
    db = Database(database_url)
    try:
        wait_until(lambda: caught_up(db), 30, "the projection to reach the head of the log")
        assert rebuild.verify(db) == []
    finally:
        db.dispose()
    assert int(head) > 0
