"""HTTP/1.1 over a raw socket: what arrives, in the pieces it arrives in."""

from __future__ import annotations

import socket


def first_reads_whole(host: str, port: int, path: str, times: int) -> int:
    """GET `path` `times` times on one keep-alive connection: in how many the first read of the
    answer held all of it (head and body). An answer sent in one write arrives in one piece over
    loopback; uvicorn's own protocol sends the head and the body apart, and a reader waiting for
    them often takes the head alone (26 times of 50 for `frontline serve`'s contested list, 197 of
    200 for a bare app, on the thirteenth stop's machine)."""
    whole = 0
    with socket.create_connection((host, port), timeout=10) as conn:
        for _ in range(times):
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            data = conn.recv(1 << 20)
            whole += _complete(data)
            while not _complete(data):
                more = conn.recv(1 << 20)
                if not more:
                    raise ConnectionError(f"the server closed the connection mid-answer: {data[:200]!r}")
                data += more
    return whole


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    raise ValueError(f"an answer without Content-Length: {head!r}")
