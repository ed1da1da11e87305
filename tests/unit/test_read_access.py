"""Who may read: the one rule the read routes' dependency and the cache's fast path both ask."""

from typing import Any

import pytest

from services.config import Settings
from services.web.auth import BAD_KEY, NO_KEY, ReadAccess


def settings(**keys: Any) -> Settings:
    return Settings(_env_file=None, **keys)  # type: ignore[call-arg]


def test_reads_are_open_when_no_read_key_is_configured() -> None:
    access = ReadAccess(settings(ingest_api_keys="ingest-key"))
    assert access.refusal(None) is None
    assert access.refusal(b"Bearer anything") is None


@pytest.mark.parametrize("key", [b"read-key", b"ingest-key", b"admin-key"])
def test_any_configured_key_may_read(key: bytes) -> None:
    access = ReadAccess(
        settings(read_api_keys="read-key", ingest_api_keys="ingest-key", admin_api_keys="admin-key")
    )
    assert access.refusal(b"Bearer " + key) is None
    assert access.refusal(b"bearer  " + key + b" ") is None  # the scheme in any case, spaces trimmed


@pytest.mark.parametrize("header", [None, b"", b"Bearer", b"Bearer ", b"Basic cmVhZC1rZXk=", b"read-key"])
def test_without_a_bearer_key_the_answer_is_that_one_is_required(header: bytes | None) -> None:
    assert ReadAccess(settings(read_api_keys="read-key")).refusal(header) == NO_KEY


@pytest.mark.parametrize("header", [b"Bearer read-ke", b"Bearer read-key2", b"Bearer READ-KEY"])
def test_a_key_that_is_not_configured_is_not_valid(header: bytes) -> None:
    assert ReadAccess(settings(read_api_keys="read-key")).refusal(header) == BAD_KEY
