"""Removing what a test's RQ queue left in Redis, and nothing else.

Tests share a Redis (TEST_REDIS_URL, database 0 by default) with whatever else runs on the
machine, so they never flush it: each test uses a queue of its own (`frontline-test-<hex>`) and
afterwards deletes the keys of that queue, of its jobs and of its workers.
"""

from __future__ import annotations

from typing import cast

import redis

# RQ's throttle for cleaning job groups: a key with a TTL, set by whichever worker cleans first.
THROTTLES = ("rq:clean_groups",)


def queue_keys(client: redis.Redis, queue: str) -> set[bytes]:
    """Every key of `queue`: the queue and its registries, their jobs (and the jobs' results and
    executions), and the workers that served it."""
    own = set(client.scan_iter(match=f"*{queue}*", count=1000))
    jobs: set[bytes] = set()  # the client answers bytes (no decode_responses)
    for key in own:
        kind = client.type(key)
        if kind == b"list":
            jobs.update(cast(list[bytes], client.lrange(key, 0, -1)))
        elif kind == b"zset":
            jobs.update(cast(list[bytes], client.zrange(key, 0, -1)))
    for job in jobs:
        own.update(client.scan_iter(match=f"*{job.decode()}*", count=1000))
    for worker in client.scan_iter(match="rq:worker:*", count=1000):
        kind = client.type(worker)
        if kind == b"hash" and queue in (cast(bytes | None, client.hget(worker, "queues")) or b"").decode():
            own.update((worker, worker + b":executions"))
        elif kind == b"set" and worker.endswith(b":executions") and _names(client, worker, queue):
            own.add(worker)  # a killed worker's executions outlive its hash (RQ gives them a TTL)
    return own


def _names(client: redis.Redis, executions: bytes, queue: str) -> bool:
    return any(queue.encode() in member for member in client.smembers(executions))


def delete_queue_keys(url: str, queue: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = queue_keys(client, queue)
        if keys:
            client.delete(*keys)
        workers = [k for k in keys if k.startswith(b"rq:worker:")]
        if workers:
            client.srem("rq:workers", *workers)
        client.srem("rq:queues", f"rq:queue:{queue}")
    finally:
        client.close()


def throttles_present(url: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {key for key in THROTTLES if client.exists(key)}
    finally:
        client.close()


def delete_throttles(url: str, keep: set[str]) -> None:
    """Delete RQ's throttle keys that were not there when the session began (ours, then: at
    worst another deployment on this Redis cleans its job groups a few minutes early)."""
    client = redis.Redis.from_url(url)
    try:
        for key in set(THROTTLES) - keep:
            client.delete(key)
    finally:
        client.close()
