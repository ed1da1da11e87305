"""Large answers go gzipped to the clients that ask (browsers do), from the cache, on a live server:
the same bytes on a miss and on a hit, each form with its own ETag and its own 304s."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_stream import claim, post, start

GZIP = {"Accept-Encoding": "gzip, deflate"}
PLAIN = {"Accept-Encoding": "identity"}
CONTESTED = ["Abu Kamal", "Mosul", "Raqqa", "Rawa", "Tadmur", "al-Qaim", "Deir ez-Zor", "Hit"]


@pytest.fixture
def stack(fresh_pg_url: str, cache_dir: Path) -> Iterator[tuple[str, httpx.Client]]:
    yield from start(fresh_pg_url, cache_dir)


def contested(http: httpx.Client) -> int:
    """Split each place of CONTESTED between two actors: a contested list of some 4 KB."""
    position = 0
    for place in CONTESTED:
        post(http, claim(place, "SAA", day=1))
        position = post(http, claim(place, "IS", 40, day=2, from_actor="SAA"))
    return position


def raw(
    http: httpx.Client, path: str, headers: dict[str, str], **params: int
) -> tuple[httpx.Response, bytes]:
    """The answer and its bytes as they came over the wire (httpx would decompress them)."""
    with http.stream("GET", path, headers=headers, params=params) as response:
        return response, b"".join(response.iter_raw())


def test_a_large_answer_goes_gzipped_on_a_miss_and_on_a_hit(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    position = contested(http)
    missed, missed_bytes = raw(http, "/v1/contested", GZIP, min_position=position)  # computed by the route
    hit, hit_bytes = raw(http, "/v1/contested", GZIP)  # served from the cache, before routing
    plain, plain_bytes = raw(http, "/v1/contested", PLAIN)
    assert len(plain_bytes) > 3000, "the list must be large enough to be compressed"
    for answer, wire in ((missed, missed_bytes), (hit, hit_bytes)):
        assert answer.status_code == 200
        assert answer.headers["content-encoding"] == "gzip"
        assert answer.headers["vary"].lower() == "accept-encoding"
        assert int(answer.headers["content-length"]) == len(wire) < len(plain_bytes) / 3
        assert gzip.decompress(wire) == plain_bytes
    assert missed.headers["etag"] == hit.headers["etag"] != plain.headers["etag"]
    assert "content-encoding" not in plain.headers and plain.headers["vary"].lower() == "accept-encoding"
    head = http.head("/v1/contested", headers=GZIP)
    assert (
        head.headers["content-length"] == str(len(hit_bytes)) and head.headers["etag"] == hit.headers["etag"]
    )


def test_each_form_has_its_own_304(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    position = contested(http)
    gz_tag = http.get("/v1/contested", headers=GZIP, params={"min_position": position}).headers["etag"]
    plain_tag = http.get("/v1/contested", headers=PLAIN).headers["etag"]

    same = http.get("/v1/contested", headers={**GZIP, "If-None-Match": gz_tag})
    assert same.status_code == 304 and same.headers["etag"] == gz_tag
    assert same.headers["vary"].lower() == "accept-encoding" and "content-encoding" not in same.headers
    assert http.get("/v1/contested", headers={**PLAIN, "If-None-Match": plain_tag}).status_code == 304
    # A tag of the other form names other bytes: the answer comes whole, in the form asked for.
    crossed, wire = raw(http, "/v1/contested", {**GZIP, "If-None-Match": plain_tag})
    assert crossed.status_code == 200 and crossed.headers["etag"] == gz_tag and gzip.decompress(wire)
    crossed_back = http.get("/v1/contested", headers={**PLAIN, "If-None-Match": gz_tag})
    assert crossed_back.status_code == 200 and crossed_back.headers["etag"] == plain_tag

    changed = post(http, claim("Abu Kamal", "IS", 60, day=3, from_actor="SAA"))
    moved = http.get(
        "/v1/contested", headers={**GZIP, "If-None-Match": gz_tag}, params={"min_position": changed}
    )
    assert moved.status_code == 200 and moved.headers["etag"] not in (gz_tag, plain_tag)


def test_a_refused_gzip_and_a_small_answer_come_plain(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    position = contested(http)
    refused, wire = raw(http, "/v1/contested", {"Accept-Encoding": "gzip;q=0, *"}, min_position=position)
    assert "content-encoding" not in refused.headers and wire.startswith(b"{")
    small, small_wire = raw(http, "/v1/places/rawah-iq", GZIP)
    assert small.status_code == 200 and len(small_wire) < 1400
    assert "content-encoding" not in small.headers and "vary" not in small.headers
    assert small_wire.startswith(b"{")


def test_a_field_sent_on_several_lines_counts_whole(stack: tuple[str, httpx.Client]) -> None:
    _, http = stack
    position = contested(http)
    lines = [("Accept-Encoding", "identity"), ("Accept-Encoding", "gzip")]  # one field: "identity, gzip"
    missed = http.get("/v1/contested", headers=lines, params={"min_position": position})
    hit = http.get("/v1/contested", headers=lines)
    for answer in (missed, hit):
        assert answer.headers["content-encoding"] == "gzip" and answer.headers["etag"].endswith('.gz"')
    tags = [("If-None-Match", '"g0.nothing"'), ("If-None-Match", hit.headers["etag"])]
    assert http.get("/v1/contested", headers=lines + tags).status_code == 304
