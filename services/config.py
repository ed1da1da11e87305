"""One typed Settings, read from the environment and `.env`, validated when a process starts."""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KeyList = Annotated[list[str], NoDecode]
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # fullmatch: "$" admits a final newline
# A queue's name is part of its catch-up job's id (services.doorbell), and RQ takes only these in one.
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


class ConfigurationError(ValidationError):
    """A bad setting, told as `configuration error: VARIABLE: why`, one line each.

    Still a ValidationError (callers catch that), but its message names the environment variable
    and never repeats the value, which may be a key or a password.
    """

    def __str__(self) -> str:
        return "\n".join(f"configuration error: {variable}: {why}" for variable, why in self.problems())

    def problems(self) -> list[tuple[str, str]]:
        return [
            (str(e["loc"][0]).upper() if e["loc"] else "?", e["msg"].removeprefix("Value error, "))
            for e in self.errors()
        ]

    @classmethod
    def wrapping(cls, error: ValidationError) -> ConfigurationError:
        details: list[Any] = [
            {k: e[k] for k in ("type", "loc", "input", "ctx") if k in e} for e in error.errors()
        ]
        return cls.from_exception_data(error.title, details, hide_input=True)


class Settings(BaseSettings):
    """Configuration by environment variable (the names are the upper-case field names)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    def __init__(self, **values: Any) -> None:
        # Every process builds its Settings first (the CLI, the app factories uvicorn calls, the
        # RQ worker class, Alembic), so a bad variable stops it at once, and says which.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError.wrapping(exc) from None

    database_url: str = "sqlite:///./var/frontline.db"
    # A PostgreSQL hot standby of DATABASE_URL for the read API (and the stream); ingest and the
    # projector always use the primary. Its position is polled every READ_POLL_INTERVAL seconds
    # (LISTEN/NOTIFY does not cross physical replication).
    read_database_url: str | None = None
    read_poll_interval: float = Field(default=0.05, gt=0, le=60)
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    ingest_api_keys: KeyList = []
    admin_api_keys: KeyList = []
    read_api_keys: KeyList = []
    gazetteer_countries: KeyList = ["IQ", "SY"]
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # auto: readable lines on a terminal (and under `make run`), JSON lines otherwise (containers).
    log_format: Literal["json", "console", "auto"] = "auto"
    cache_dir: Path = Path("./var/cache")
    queue_name: str = "frontline"
    # Dev mode (`make run`): writes are accepted without a key when no keys are configured and the
    # server listens on loopback only. Set by `frontline serve --dev`, never by default.
    dev_mode: bool = False
    # How often a worker (or the embedded projector) checks the log against the checkpoint, in
    # seconds: the longest a lost doorbell can delay a projection.
    reconcile_interval: float = Field(default=1.0, gt=0, le=3600)
    projection_batch_size: int = Field(default=20_000, ge=1, le=100_000)
    # Seconds between a projector's looks at the log, on average, while reports keep arriving (its
    # pace: services.projector.pace): under a steady stream each batch then folds
    # what arrived meanwhile instead of one or two events, a transaction (and its statements,
    # commit and notification) for many events rather than each. A report after a pause is folded
    # at once; others wait at most this. 50 ms: the projection commits about 20 times a second
    # at most, however fast reports come (as at 20 reports/s), which halves what commits cost the
    # worker, PostgreSQL and every read API following the change feed at 200 reports/s, the cores
    # dashboards' reads need there (docs/performance-notes.md, twelfth stop); a report becomes
    # readable at most this much later, well within the projector's freshness figure.
    projection_linger: float = Field(default=0.05, ge=0, le=1.0)
    # Seconds the ingest API's report writer may keep a report, from its arrival, waiting for more
    # when reports follow each other closely (see services.ingest.arrivals): one transaction for a
    # few reports. Reports further apart than half of it are written at once. 20 ms: at 200
    # reports/s a transaction holds four or five reports rather than two (same notes).
    report_linger: float = Field(default=0.02, ge=0, le=1.0)
    # Seconds a catch-up job may run (it stops itself at half of it; the reconciler rings again).
    job_timeout: int = Field(default=120, ge=10)
    # Seconds a queued replay may wait for a runner to take it (its job lost, or never run) before
    # the next replay request fails it and starts another. Above JOB_TIMEOUT: a worker busy with a
    # catch-up job takes the replay's job after it.
    replay_start_timeout: float = Field(default=300.0, gt=0)
    # Seconds between heartbeats on `GET /v1/stream`: proxies close a connection that stays silent
    # (commonly after 30-60 s), so an idle stream sends a comment well inside that.
    stream_heartbeat: float = Field(default=15.0, gt=0, le=300)
    # Seconds a client may take to send a request's body, from its headers on (then 408).
    body_timeout: float = Field(default=10.0, gt=0, le=3600)
    # The PostgreSQL role the services connect as, when it is not the one that migrates: migration
    # 0004 grants it what the services need and revokes UPDATE, DELETE and TRUNCATE on `events`.
    # Read by `frontline migrate` (and `alembic upgrade`); unset, the migration changes no grants.
    database_app_role: str | None = None

    @field_validator("ingest_api_keys", "admin_api_keys", "read_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("gazetteer_countries", mode="before")
    @classmethod
    def _split_countries(cls, value: object) -> object:
        if isinstance(value, str):
            value = [c.strip().upper() for c in value.split(",") if c.strip()]
        if isinstance(value, list):
            bad = [c for c in value if not (isinstance(c, str) and len(c) == 2 and c.isalpha())]
            if bad:
                raise ValueError(f"expected ISO 3166-1 alpha-2 codes such as IQ,SY; got {bad}")
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("postgresql+psycopg://", "sqlite://")):
            raise ValueError("expected a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("read_database_url")
    @classmethod
    def _check_read_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        normalised = cls._normalise_database_url(value)
        if not normalised.startswith("postgresql"):
            raise ValueError("expected a postgresql:// URL (a hot standby of DATABASE_URL)")
        return normalised

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis:// URL")
        return value

    @field_validator("queue_name")
    @classmethod
    def _check_queue_name(cls, value: str) -> str:
        if not QUEUE_NAME.fullmatch(value):
            raise ValueError("expected letters, digits, underscores and dashes (it names RQ's job ids)")
        return value

    @field_validator("database_app_role")
    @classmethod
    def _check_role(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not ROLE_NAME.fullmatch(value):
            raise ValueError("expected a PostgreSQL role name (letters, digits, underscores)")
        return value

    @cached_property
    def on_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    @property
    def open_writes(self) -> bool:
        """Dev mode on loopback with no write keys configured: writes need no key."""
        return self.dev_mode and self.on_loopback
