"""Which form of a cached answer a request gets: gzip only when its Accept-Encoding admits it."""

from __future__ import annotations

import gzip
import random

import orjson
import pytest

from services.api import encoding
from services.api.cache import Entry
from services.api.position import Version


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZip", True),
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("x-gzip", True),
        ("*", True),
        ("identity", False),
        ("br, deflate", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("gzip;q=0, *", False),  # named refusal beats the wildcard
        ("*;q=0", False),
        ("gzip;q=abc", False),  # a malformed q is no consent
        ("gzip;q=2", False),
        ("gzip;q=nan", False),
        ("deflate, gzip ; q=0.5", True),
    ],
)
def test_accept_encoding(header: str | None, accepted: bool) -> None:
    assert encoding.accepts_gzip(header) is accepted


def _entry(body: bytes) -> Entry:
    return Entry.of(Version(1, 7), None, body, "application/json", None)


def test_a_large_body_has_a_gzip_form_with_its_own_etag() -> None:
    body = orjson.dumps({"places": [{"place_id": f"p{n}", "status": "contested"} for n in range(200)]})
    entry = _entry(body)
    gz, plain = entry.form("gzip, deflate"), entry.form(None)
    assert gzip.decompress(gz.body) == body and len(gz.body) < len(body) // 4
    assert plain.body == body and plain.etag == entry.etag
    assert gz.etag != plain.etag and gz.etag.startswith('"') and gz.etag.endswith('.gz"')
    for form in (gz, plain):  # both forms say the answer varies, on a 200 and a 304 alike
        assert dict(form.headers(7))[b"vary"] == b"accept-encoding"
    assert dict(gz.content_headers("application/json"))[b"content-encoding"] == b"gzip"
    assert b"content-encoding" not in dict(plain.content_headers("application/json"))
    assert b"content-encoding" not in dict(gz.headers(7))  # a 304 describes no bytes
    assert entry.size == len(body) + len(gz.body)
    assert _entry(body).form("gzip").body == gz.body  # the same bytes each time (no timestamp)


def test_a_small_or_incompressible_body_has_only_its_plain_form() -> None:
    small = _entry(b'{"place_id": "rawah-iq"}')
    assert small.form("gzip") is small.form(None)
    assert b"vary" not in dict(small.form("gzip").headers(7))
    noise = random.Random(1).randbytes(4000)  # gzip cannot shrink it: its form would only be larger
    dense = _entry(noise)
    assert dense.gzipped is None and dense.form("gzip") is dense.plain and dense.plain.body == noise
