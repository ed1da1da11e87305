"""Readiness: can this process serve? The database answers, its schema is the one this code was
written for, it keeps commits durable, and Redis answers (when one is configured).

Each check returns what is wrong as a short reason class (`database: unreachable`), or nothing;
`/readyz` answers 503 naming them. The endpoint is open, so the driver's own words (host, port,
database and role names) go to the log only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import orjson
import redis
import sqlalchemy as sa
import structlog
from fastapi import FastAPI, Request, Response

from services.store.database import Database
from services.store.errors import StoreUnavailable
from services.store.migrations import head_revision, known_revisions
from services.web.context import context_of
from services.web.deps import RuntimeDep
from services.web.problems import problem, problem_responses
from services.web.runtime import Runtime

log = structlog.get_logger(__name__)

STATEMENT_TIMEOUT_MS = 2000  # a probe must answer while the prober still waits


@dataclass(frozen=True)
class Failure:
    check: str  # database | migrations | durability | redis | threads
    reason: str  # a short class, safe to show anyone: unreachable, missing, behind, ...
    details: str = ""  # what the driver said: for the log only


@cache
def expected_revision() -> str | None:
    # The migration scripts ship with the code: read them once per process.
    return head_revision()


@cache
def _known() -> frozenset[str]:
    return known_revisions()


def failures(runtime: Runtime) -> list[Failure]:
    """Every reason this process should not be sent traffic now (empty: ready)."""
    found = database_failures(runtime.db)
    if runtime.settings.redis_url and runtime.redis is not None:
        found += redis_failures(runtime.redis)
    return found


def database_failures(db: Database) -> list[Failure]:
    try:
        with db.snapshot() as conn:
            db.backend.limit_statements(conn, STATEMENT_TIMEOUT_MS)
            revision = _revision(conn)
            durability = durability_problem(*db.backend.durability_settings(conn))
    except (StoreUnavailable, sa.exc.SQLAlchemyError) as exc:
        return [Failure("database", database_reason(exc), _short(exc))]
    found = []
    if revision != expected_revision():
        found.append(
            Failure(
                "migrations",
                "behind" if revision is None or revision in _known() else "ahead",
                f"the schema is at {revision}, the code needs {expected_revision()}",
            )
        )
    if durability:
        found.append(Failure("durability", durability))
    return found


def database_reason(exc: Exception) -> str:
    """The class of a database failure: `missing` (no such database), `refused` (the server would
    not let us in), `unreachable` (no answer), else `error`."""
    text = _short(exc)
    if "does not exist" in text and "database" in text:
        return "missing"
    if "authentication failed" in text or "no pg_hba.conf entry" in text or "permission denied" in text:
        return "refused"
    if isinstance(exc, (StoreUnavailable, sa.exc.OperationalError)):
        return "unreachable"
    return "error"


def durability_problem(fsync: str, synchronous_commit: str) -> str | None:
    """Why commits answered as durable might not be, or None. Any synchronous_commit level but
    `off` flushes the local WAL before a commit returns; `fsync=off` makes no flush durable."""
    problems = []
    if fsync != "on":
        problems.append(f"fsync is {fsync}")
    if synchronous_commit == "off":
        problems.append("synchronous_commit is off")
    return ", ".join(problems) or None


def _revision(conn: sa.Connection) -> str | None:
    # What store.migrations.current_revision reads, without Alembic's two INFO lines per probe.
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    revision: str | None = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return revision


def redis_failures(connection: redis.Redis) -> list[Failure]:
    try:
        connection.ping()
    except redis.RedisError as exc:
        return [Failure("redis", "unreachable", _short(exc))]
    return []


def _short(exc: Exception) -> str:
    # The first line of the driver's message: what failed, without a traceback or a statement.
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def install(app: FastAPI) -> None:
    """GET /readyz: 200 when ready, else 503 (problem+json) naming every check that failed."""

    @app.get("/readyz", tags=["operations"], response_class=Response, responses=problem_responses(503))
    def readyz(request: Request, runtime: RuntimeDep) -> Response:
        """Ready: the database and Redis answer, migrations are at head, commits are durable, and
        every loop the app started (the ingest API's report writer) still runs."""
        found = failures(runtime) + [
            Failure("threads", f"{name}: ended") for name in context_of(request.app).ended()
        ]
        if not found:
            return Response(orjson.dumps({"status": "ready"}), media_type="application/json")
        for failure in found:
            log.warning("readyz.failed", check=failure.check, reason=failure.reason, error=failure.details)
        detail = "not ready: " + "; ".join(f"{f.check}: {f.reason}" for f in found)
        errors = [{"check": f.check, "msg": f.reason} for f in found]
        return problem(503, "not-ready", detail, errors=errors, headers={"Retry-After": "5"})
