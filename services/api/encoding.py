"""Compressed answers: the gzip form of a cached answer, made once with the answer, for the clients
that ask for it (every browser does, and so every dashboard).

A contested page is 55 KB of JSON and a GeoJSON page can be a megabyte; gzipped they are about an
eighth of that. Compressing each response as it goes out (Starlette's GZipMiddleware) would cost
every poll a compression of the whole body; compressed once, when the answer is computed or renewed,
a poll of the gzip form costs no more than one of the plain bytes, and sends fewer.

The two forms are two representations of one answer (RFC 9110 8.8.3): each has its own strong ETag,
and both say `Vary: Accept-Encoding`, so that a shared cache keeps them apart.
"""

from __future__ import annotations

import gzip

# Below about one packet, compressing saves no round trip and costs the client a decompression.
COMPRESS_FROM = 1400  # bytes
LEVEL = 6  # zlib's default: a 55 KB contested page in 0.4 ms, once per version of it
ETAG_SUFFIX = ".gz"


def gzipped(body: bytes) -> bytes | None:
    """The gzip form of `body`, or None when it is too small to be worth one (or does not shrink).
    `mtime=0`: the same body always gives the same bytes."""
    if len(body) < COMPRESS_FROM:
        return None
    packed = gzip.compress(body, compresslevel=LEVEL, mtime=0)
    return packed if len(packed) < len(body) else None


def gzip_etag(etag: str) -> str:
    """The ETag of the gzip form, given the plain form's (a quoted strong tag)."""
    return f'{etag[:-1]}{ETAG_SUFFIX}"'


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (RFC 9110 12.5.3): named (or as `x-gzip`), or
    else covered by `*`, with a q-value above 0. No header: the plain bytes, as the RFC advises."""
    if not accept_encoding:
        return False
    named = star = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named = max(named or 0.0, _quality(params))
        elif coding == "*":
            star = _quality(params)
    if named is not None:
        return named > 0
    return star is not None and star > 0


def _quality(params: str) -> float:
    """The q-value of one coding's parameters: 1 when absent, 0 when malformed (not acceptable)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0
