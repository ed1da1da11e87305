"""/docs (Swagger UI) and /redoc work with no network: the pages and every script, stylesheet and
icon they load come from the service itself, and stay open when reads need a key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.api.app import create_app as read_app
from services.combined import create_app as combined_app
from services.config import Settings
from services.ingest.app import create_app as ingest_app
from tests.support.apps import READ_KEY, settings_for

# Every URL a page references: src/href attributes, and the strings its inline script hands the
# viewer (Swagger UI's `url: '/openapi.json'`, ReDoc's `spec-url`).
REFERENCE = re.compile(r"""(?:src|href|spec-url|url)\s*[=:]\s*['"]([^'"]+)['"]""")
APPS: dict[str, Callable[[Settings], FastAPI]] = {
    "combined": combined_app,
    "read": read_app,
    "ingest": ingest_app,
}


def references(html: str) -> list[str]:
    return REFERENCE.findall(html)


@pytest.mark.parametrize("factory", APPS.values(), ids=APPS.keys())
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_loads_only_from_the_service(
    factory: Callable[[Settings], FastAPI], page: str, fresh_sqlite_url: str, cache_dir: Path
) -> None:
    settings = settings_for(fresh_sqlite_url, cache_dir, read_api_keys=[READ_KEY])
    with TestClient(factory(settings)) as client:
        answer = client.get(page)  # no key: the documentation stays open
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        found = references(answer.text)
        assert len(found) >= 3, found  # a script, the spec, an icon (and Swagger UI's stylesheet)
        assert not re.search(r"https?://|//[a-z]", answer.text), "the page names another host"
        kinds = set()
        for url in found:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
            kinds.add(asset.headers["content-type"].split(";")[0])
    assert {"text/javascript", "application/json", "image/png"} <= kinds
    if page == "/docs":
        assert "text/css" in kinds
