"""The map page over HTTP: open without a read key, cached as its names say, and asking nothing
of another origin (the browser tests in tests/e2e look at what it shows)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.page import STATIC
from tests.support.apps import READ_KEY, settings_for

HASHED = re.compile(r"/assets/[\w-]+-[A-Z0-9]{8}\.(js|css)")


@pytest.fixture
def client(fresh_sqlite_url: str, cache_dir: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(fresh_sqlite_url, cache_dir, read_api_keys=[READ_KEY]))
    with TestClient(app) as test_client:
        yield test_client


def test_the_page_is_served_without_a_key_and_revalidated(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.head("/").status_code == 200
    assert client.get("/v1/places").status_code == 401  # the data still needs the key


def test_assets_are_named_by_content_and_cached_for_a_year(client: TestClient) -> None:
    names = [m.group(0) for m in HASHED.finditer(client.get("/").text)]
    assert {n.rsplit(".", 1)[1] for n in names} == {"js", "css"}
    for name in names:
        asset = client.get(name)
        assert asset.status_code == 200, name
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/assets/missing-00000000.js").status_code == 404


def test_nothing_the_page_ships_names_another_origin() -> None:
    built = [STATIC / "index.html", *sorted((STATIC / "assets").glob("*.[jc]s*"))]
    for path in built:
        text = path.read_text(encoding="utf-8")
        # What a page loads from: url(...) in CSS, src= and <link href=, fetch and import in JS
        # (an <a href> elsewhere, like Leaflet's credit, is a link to follow, not a load).
        loaded = re.findall(r"""(?:url\(|src=|<link[^>]*href=|fetch\(|import\()\s*["']?(https?:)?//""", text)
        assert loaded == [], f"{path.name} loads from another origin"


def test_the_committed_page_names_only_assets_that_exist() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for name in [m.group(0) for m in HASHED.finditer(html)]:
        assert (STATIC / name.lstrip("/")).is_file(), name
