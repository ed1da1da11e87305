"""A bad variable stops a process at once with a message naming it, and never its value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from services.api.app import create_app as read_app
from services.combined import create_app as combined_app
from services.config import ConfigurationError, Settings
from services.ingest.app import create_app as ingest_app


def test_the_message_names_each_variable_and_hides_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://frontline:s3cret-password@db/x")
    monkeypatch.setenv("PORT", "s3cret-port")
    with pytest.raises(ConfigurationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = str(caught.value)
    assert message.splitlines() == [
        "configuration error: DATABASE_URL: expected a postgresql:// or sqlite:/// URL",
        "configuration error: PORT: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert "s3cret" not in message and "s3cret" not in repr(caught.value)
    assert isinstance(caught.value, ValidationError)  # what callers (the CLI) catch


@pytest.mark.parametrize("factory", [ingest_app, read_app, combined_app], ids=["ingest", "read", "combined"])
def test_the_app_factories_fail_fast(monkeypatch: pytest.MonkeyPatch, factory: Callable[[], Any]) -> None:
    # What `uvicorn --factory services.ingest.app:create_app` runs, before it serves anything.
    monkeypatch.setenv("REDIS_URL", "http://not-redis")
    with pytest.raises(ConfigurationError, match="configuration error: REDIS_URL: expected a redis:// URL"):
        factory()


@pytest.mark.parametrize(("value", "expected"), [("frontline_app", "frontline_app"), ("", None)])
def test_the_app_role_is_a_role_name(value: str, expected: str | None) -> None:
    assert Settings(_env_file=None, database_app_role=value).database_app_role == expected  # type: ignore[call-arg]


def test_an_app_role_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_APP_ROLE"):
        Settings(_env_file=None, database_app_role="app; DROP TABLE events")  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["frontline.prod", "a b", "", "queue:1", "frontline\n"])
def test_a_queue_name_that_cannot_name_a_job_is_refused(value: str) -> None:
    # Its catch-up job's id is made of it: RQ would refuse that id at the first ring.
    with pytest.raises(ConfigurationError, match="QUEUE_NAME: expected letters, digits, underscores"):
        Settings(_env_file=None, queue_name=value)  # type: ignore[call-arg]


def test_a_queue_name_of_letters_digits_and_dashes_is_taken() -> None:
    assert Settings(_env_file=None, queue_name="frontline-prod_2").queue_name == "frontline-prod_2"  # type: ignore[call-arg]
