"""The live map at `/`, in a real browser, against `frontline serve --dev` (what `make run` starts)
with the seed demo loaded: what a reader sees, and that it follows the log without a reload."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.test_seed_article import wait_healthy
from tests.support.apps import READ_KEY, free_port
from tests.support.browser import VIEWPORT, artefacts_dir, chromium_path, launched
from tests.support.workers import stop

pytestmark = pytest.mark.slow

ABU_KAMAL = "albu-kamal-sy"
LIVE_WITHIN_MS = 2000


@dataclass
class Served:
    base: str
    env: dict[str, str]


def serve(tmp: Path, cache_dir: Path, **extra: str) -> tuple[subprocess.Popen[bytes], Served]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEYS", "_URL"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'frontline.db'}", CACHE_DIR=str(cache_dir), LOG_FORMAT="console"
    )
    env.update(extra)
    cli = [sys.executable, "-m", "services.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, timeout=120, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--dev", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    served = Served(f"http://127.0.0.1:{port}", env)
    wait_healthy(served.base, server)
    demo = subprocess.run([*cli, "demo", "--url", served.base], env=env, capture_output=True, timeout=60)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    return server, served


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_path(IN_CI)


@pytest.fixture(scope="module")
def frontline(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, chromium: str) -> Iterator[Served]:
    server, served = serve(tmp_path_factory.mktemp("map"), cache_dir)
    try:
        yield served
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    with launched(chromium) as launched_browser:
        yield launched_browser


@dataclass
class Watched:
    """A page, with every console error and every request to another origin it made."""

    page: Any
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.foreign == [], self.foreign


@pytest.fixture
def watched(browser: Any, frontline: Served, request: pytest.FixtureRequest) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Watched(page)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    same_origin = re.compile(rf"^({re.escape(frontline.base)}/|data:)")
    page.on("request", lambda r: None if same_origin.match(r.url) else seen.foreign.append(r.url))
    try:
        yield seen
    finally:
        page.screenshot(path=str(artefacts_dir() / f"{request.node.name}.png"))
        context.close()


def open_map(watched: Watched, base: str, query: str = "") -> Any:
    page = watched.page
    page.goto(f"{base}/{query}")
    page.wait_for_selector("body[data-ready=true]")
    return page


def marker(page: Any, place_id: str) -> Any:
    return page.locator(f'.leaflet-marker-icon[data-place-id="{place_id}"]')


def test_the_map_shows_abu_kamal_split_with_no_error_and_nothing_from_elsewhere(
    watched: Watched, frontline: Served
) -> None:
    page = open_map(watched, frontline.base)
    abu_kamal = marker(page, ABU_KAMAL)
    assert abu_kamal.get_attribute("data-split") == "SAA 60 / IS 40"
    assert "SAA 60 / IS 40" in (abu_kamal.get_attribute("aria-label") or "")
    contested = page.locator("#contested li")
    assert contested.count() == 1 and "SAA 60 / IS 40" in contested.inner_text()
    assert marker(page, "mosul-iq").count() == 1
    abu_kamal.focus()  # markers are reached with the keyboard too
    page.keyboard.press("Enter")
    page.locator("#panel .history li").first.wait_for()
    assert "place=albu-kamal-sy" in page.url
    page.click("#tab-table")
    row = page.locator(f'#places-table tr[data-place-id="{ABU_KAMAL}"]')
    assert "SAA 60 / IS 40" in row.inner_text() and "contested" in row.inner_text()
    watched.clean()


def test_moving_the_date_to_9_november_shows_the_syrian_army_holding_all_of_abu_kamal(
    watched: Watched, frontline: Served
) -> None:
    page = open_map(watched, frontline.base)
    page.fill("#as-of", "2017-11-09")
    page.dispatch_event("#as-of", "change")
    page.wait_for_selector(f'.leaflet-marker-icon[data-place-id="{ABU_KAMAL}"][data-split="SAA 100"]')
    assert "as_of=2017-11-09" in page.url
    assert page.locator("#contested .empty").count() == 1
    # The link reproduces the view; the slider moves it by a day with the keyboard.
    page = open_map(watched, frontline.base, "?as_of=2017-11-09")
    assert marker(page, ABU_KAMAL).get_attribute("data-split") == "SAA 100"
    page.focus("#slider")
    page.keyboard.press("ArrowRight")  # 10 November: IS retakes 40 %
    page.wait_for_selector(f'.leaflet-marker-icon[data-place-id="{ABU_KAMAL}"][data-split="SAA 60 / IS 40"]')
    assert "as_of=2017-11-10" in page.url
    watched.clean()


def test_as_it_was_known_before_the_demo_there_is_no_abu_kamal(watched: Watched, frontline: Served) -> None:
    page = open_map(watched, frontline.base, "?as_of=2017-11-10")
    assert marker(page, ABU_KAMAL).get_attribute("data-split") == "SAA 60 / IS 40"
    page.check("#known")
    page.wait_for_selector(f'.leaflet-marker-icon[data-place-id="{ABU_KAMAL}"]', state="detached")
    assert page.locator(".leaflet-marker-icon.place-marker").count() == 0
    assert "known=1" in page.url
    assert "No place" in page.locator("#places-table tbody").inner_text()
    watched.clean()


def test_a_report_posted_while_the_page_is_open_appears_without_a_reload(
    watched: Watched, frontline: Served
) -> None:
    page = open_map(watched, frontline.base)
    page.evaluate("window.__sameDocument = true")
    report = {
        "id": "map-live-test",
        "source": {"name": "live test"},
        "claims": [{"place": "Abu Kamal", "country": "SY", "actor": "SAA", "occurred_at": "2017-11-19"}],
    }
    posted = httpx.post(f"{frontline.base}/v1/reports", json=report, timeout=10)
    assert posted.status_code == 201, posted.text
    started = time.monotonic()
    page.wait_for_selector(
        f'.leaflet-marker-icon[data-place-id="{ABU_KAMAL}"][data-split="SAA 100"]', timeout=LIVE_WITHIN_MS
    )
    assert (time.monotonic() - started) * 1000 < LIVE_WITHIN_MS
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    position = posted.json()["position"]
    page.wait_for_function(f"Number(document.body.dataset.position) >= {position}", timeout=LIVE_WITHIN_MS)
    assert f"position {position}" in page.locator("#live").inner_text()
    watched.clean()


def test_a_replay_that_swaps_the_read_models_is_announced(watched: Watched, frontline: Served) -> None:
    page = open_map(watched, frontline.base)
    assert page.locator("#notice").is_hidden()
    started = httpx.post(f"{frontline.base}/v1/admin/replay", timeout=10)
    assert started.status_code == 202, started.text
    page.wait_for_selector("#notice:not([hidden])", timeout=15_000)
    assert "replay" in page.locator("#notice").inner_text()
    assert marker(page, ABU_KAMAL).count() == 1
    watched.clean()


def test_the_place_panel_lists_the_history_with_a_correction_and_a_retraction(
    watched: Watched, frontline: Served
) -> None:
    history = httpx.get(f"{frontline.base}/v1/places/{ABU_KAMAL}/history", timeout=10).json()["items"]
    is_claim = next(i for i in history if i["actor_id"] == "islamic-state")
    corrected = httpx.post(
        f"{frontline.base}/v1/corrections",
        json={
            "event_id": is_claim["event_id"],
            "changes": {"share": 35},
            "reason": "the article said about a third",
        },
        timeout=10,
    )
    assert corrected.status_code == 201, corrected.text
    latest = history[-1]
    retracted = httpx.post(
        f"{frontline.base}/v1/retractions",
        json={"event_id": latest["event_id"], "reason": "no such report"},
        timeout=10,
    )
    assert retracted.status_code == 201, retracted.text
    position = retracted.json()["position"]
    httpx.get(f"{frontline.base}/v1/places/{ABU_KAMAL}", params={"min_position": position}, timeout=10)

    page = open_map(watched, frontline.base, f"?as_of=2017-11-12&place={ABU_KAMAL}")
    panel = page.locator("#panel")
    panel.locator(".history li").first.wait_for()
    assert "SAA 65 / IS 35" in marker(page, ABU_KAMAL).get_attribute("data-split")
    correction = panel.locator(f'li.corrected[data-event-id="{is_claim["event_id"]}"]')
    assert (
        "Correction" in correction.inner_text()
        and "the article said about a third" in correction.inner_text()
    )
    assert "share → 35" in correction.inner_text()
    withdrawn = panel.locator(f'li.retracted[data-event-id="{latest["event_id"]}"]')
    assert "Retracted" in withdrawn.inner_text() and "no such report" in withdrawn.inner_text()
    assert "Islamic State" in panel.locator("table.control").inner_text()
    page.screenshot(path=str(artefacts_dir() / "map-with-panel.png"))
    watched.clean()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, chromium: str) -> Iterator[Served]:
    server, served = serve(tmp_path_factory.mktemp("keyed"), cache_dir, READ_API_KEYS=READ_KEY)
    try:
        yield served
    finally:
        stop(server)


def test_with_read_keys_the_page_asks_for_one_and_sends_it(browser: Any, keyed: Served) -> None:
    page_html = httpx.get(f"{keyed.base}/", timeout=10)
    assert page_html.status_code == 200 and READ_KEY not in page_html.text  # served keyless, embeds none
    assert httpx.get(f"{keyed.base}/v1/places", timeout=10).status_code == 401
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sent: list[str | None] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/v1/" in r.url else None)
    try:
        page.goto(f"{keyed.base}/")
        page.wait_for_selector("#key-dialog[open]")
        page.screenshot(path=str(artefacts_dir() / "read-key-form.png"))
        page.fill("#key-input", "not-a-key")
        page.press("#key-input", "Enter")
        page.wait_for_selector("#key-dialog[open] #key-error:has-text('not accepted')")
        page.fill("#key-input", READ_KEY)
        page.press("#key-input", "Enter")
        page.wait_for_selector("body[data-ready=true]")
        assert marker(page, ABU_KAMAL).get_attribute("data-split") == "SAA 60 / IS 40"
        assert page.evaluate("sessionStorage.getItem('frontline.readKey')") == READ_KEY
        assert f"Bearer {READ_KEY}" in sent
    finally:
        context.close()
