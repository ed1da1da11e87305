"""One typed Settings, read from the environment and `.env`, validated when a process starts."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KeyList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Configuration by environment variable (the names are the upper-case field names)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = "sqlite:///./var/frontline.db"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    ingest_api_keys: KeyList = []
    admin_api_keys: KeyList = []
    read_api_keys: KeyList = []
    gazetteer_countries: KeyList = ["IQ", "SY"]
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    cache_dir: Path = Path("./var/cache")
    queue_name: str = "frontline"
    # Dev mode (`make run`): writes are accepted without a key when no keys are configured and the
    # server listens on loopback only. Set by `frontline serve --dev`, never by default.
    dev_mode: bool = False
    # How often a worker (or the embedded projector) checks the log against the checkpoint, in
    # seconds: the longest a lost doorbell can delay a projection.
    reconcile_interval: float = Field(default=1.0, gt=0, le=3600)
    projection_batch_size: int = Field(default=5000, ge=1, le=100_000)
    # Seconds a catch-up job may run (it stops itself at half of it; the reconciler rings again).
    job_timeout: int = Field(default=120, ge=10)

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

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis:// URL")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

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
