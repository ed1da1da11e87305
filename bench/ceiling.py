"""The framework's ceiling: a bare ASGI app serving prebuilt bytes, under the read API's own server.

`python -m bench.ceiling --port P --workers N` serves, at each path of the manifest
(BENCH_CEILING_MANIFEST, written by bench.api), the body Frontline answered there, with the same
headers a cached answer carries, or a 304 when If-None-Match holds its ETag. No routing, no
middleware, no lookup but one dict: what uvicorn itself can do on this machine for the same bytes.
It is started through `services.cli._run`, so that the server's options (loop, HTTP protocol, proxy
headers, logging, workers) are exactly the read API's; `--uvicorn-protocol` swaps the HTTP protocol
for uvicorn's own, to measure what `services.web.protocol` saves.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

Answer = tuple[list[tuple[bytes, bytes]], bytes, bytes]  # headers, body, etag


def load(manifest: Path) -> dict[str, Answer]:
    answers = {}
    for path, entry in json.loads(manifest.read_text()).items():
        body = Path(entry["body_file"]).read_bytes()
        headers = [
            (b"etag", entry["etag"].encode()),
            (b"cache-control", b"no-cache"),
            (b"x-projection-position", str(entry["position"]).encode()),
        ]
        answers[path] = (headers, body, entry["etag"].encode())
    return answers


def create_app() -> Any:
    answers = load(Path(os.environ["BENCH_CEILING_MANIFEST"]))
    health: Answer = ([], b'{"status":"ok"}', b"")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        headers, body, etag = answers.get(scope["path"], health)
        if etag and dict(scope["headers"]).get(b"if-none-match") == etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        full = [
            *headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": full})
        await send({"type": "http.response.body", "body": body})

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--uvicorn-protocol", action="store_true",
        help="uvicorn's own HTTP protocol (an answer's head and body in two writes), not the servers' one",
    )  # fmt: skip
    args = parser.parse_args()
    from services.cli import _run
    from services.config import Settings

    settings = Settings(host="127.0.0.1", port=args.port)
    _run("bench.ceiling:create_app", settings, args.workers, one_write=not args.uvicorn_protocol)


if __name__ == "__main__":
    main()
