"""Jobs on Redis with arq: what the bot uses to ask `lore worker` for syncs and deletions.

A job's arq id is `job_id(kind, source_id)`, and arq refuses a second job while one with that id exists
(queued, deferred for a retry, or running), so a repeated request is a no-op. Results are not kept
(`keep_result=0`): once a job ends, the same source can be queued again.

Key families (besides arq's own `arq:job:`, `arq:in-progress:` and `arq:retry:` keys):
`QUEUE` is the sorted set of queued job ids, `worker_key(id)` a live worker's heartbeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from redis.exceptions import RedisError

from knowledge.jobs import DELETE, SYNC, JobRequest, QueueStatus, job_id
from knowledge.kv.base import StoreUnavailable

log = logging.getLogger(__name__)

QUEUE = "lore:queue"  # arq's queue (a sorted set of job ids by due time)
WORKER_PREFIX = "lore:worker:"  # + worker id: a worker's heartbeat (JSON), expires unless refreshed
HEARTBEAT_EVERY = 10.0  # seconds between heartbeats
HEARTBEAT_TTL = 30  # seconds a heartbeat outlives its worker
REDIS_TIMEOUT = 5.0  # seconds before a queue call from the bot is abandoned
JOB_PREFIX = "lore:"  # every id made by knowledge.jobs.job_id starts with it


def worker_key(worker_id: str) -> str:
    """The heartbeat key of one worker process."""
    return f"{WORKER_PREFIX}{worker_id}"


def in_progress_key(arq_job_id: str) -> str:
    """arq's marker of a job being run by some worker (expires after the job timeout)."""
    return f"{in_progress_key_prefix}{arq_job_id}"


def parse_job_id(arq_job_id: str) -> tuple[str, str] | None:
    """`(kind, source_id)` of one of our job ids; None for anything else (arq's cron jobs)."""
    if not arq_job_id.startswith(JOB_PREFIX):
        return None
    kind, _, source_id = arq_job_id[len(JOB_PREFIX) :].partition(":")
    if kind not in (SYNC, DELETE) or not source_id:
        return None
    return kind, source_id


def serialize(data: dict[str, Any]) -> bytes:
    """Jobs travel as JSON, not pickle: nothing read back from Redis can run code."""
    return json.dumps(data, default=repr).encode()


def deserialize(raw: bytes) -> dict[str, Any]:
    """The inverse of `serialize`."""
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


def redis_settings(url: str) -> RedisSettings:
    """arq's connection settings for `LORE_REDIS_URL`."""
    return RedisSettings.from_dsn(url)


async def open_pool(url: str) -> ArqRedis:
    """An arq connection pool on our queue with JSON jobs; raises StoreUnavailable when Redis is down."""
    settings = redis_settings(url)
    settings.conn_retries = 2
    try:
        return await create_pool(
            settings, default_queue_name=QUEUE, job_serializer=serialize, job_deserializer=deserialize
        )
    except (RedisError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"cannot reach Redis at LORE_REDIS_URL for the job queue: {exc}") from exc


class ArqJobs:
    """`knowledge.jobs.Jobs` on Redis: requests become arq jobs that `lore worker` runs."""

    def __init__(self, pool: ArqRedis, *, owned: bool = False) -> None:
        self.pool = pool
        self._owned = owned

    @classmethod
    async def open(cls, url: str) -> ArqJobs:
        """Jobs on the Redis at `url`; the caller closes them."""
        return cls(await open_pool(url), owned=True)

    async def close(self) -> None:
        """Close the connection pool if this object opened it."""
        if self._owned:
            await self.pool.aclose()

    async def request_sync(self, request: JobRequest) -> bool:
        """Queue a sync; False when one is already queued, waiting for a retry, or running."""
        return await self._enqueue(SYNC, request)

    async def request_delete(self, request: JobRequest) -> bool:
        """Queue removing the source and its chunks; False when one is already queued or running."""
        return await self._enqueue(DELETE, request)

    async def _enqueue(self, kind: str, request: JobRequest) -> bool:
        arq_id = job_id(kind, request.source_id)
        args: tuple[object, ...] = (request.source_id, request.requested_by)
        if request.allow_deletes:  # the sync job's third argument; a plain request stays as it was
            args += (True,)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                job = await self.pool.enqueue_job(kind, *args, _job_id=arq_id, _queue_name=QUEUE)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"cannot queue {kind} of {request.source_id!r} on Redis: {exc}") from exc
        log.info(
            "%s %s for %s", "queued" if job else "already queued or running:", arq_id, request.requested_by
        )
        return job is not None

    async def status(self) -> QueueStatus:
        """Jobs waiting (including those deferred for a retry), sources being worked on, live workers."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                ids = [raw.decode() for raw in await self.pool.zrange(QUEUE, 0, -1)]
                ours = [i for i in ids if parse_job_id(i)]
                async with self.pool.pipeline(transaction=False) as pipe:
                    for arq_id in ours:
                        pipe.exists(in_progress_key(arq_id))
                    started = await pipe.execute() if ours else []
                workers = [key async for key in self.pool.scan_iter(match=f"{WORKER_PREFIX}*", count=100)]
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"cannot read the job queue on Redis: {exc}") from exc
        pairs = [p for p in map(parse_job_id, ours) if p is not None]
        running = [pair for pair, on in zip(pairs, started, strict=True) if on]
        waiting = [pair for pair, on in zip(pairs, started, strict=True) if not on]
        detail = ""
        if not workers and ours:
            detail = "no worker is running: start `lore worker` (jobs wait in the queue until one does)"
        return QueueStatus(
            queued=len(waiting),
            queued_sources=[source for _, source in waiting],
            running=[source for _, source in running],
            removing=[source for kind, source in running if kind == DELETE],
            workers=len(workers),
            detail=detail,
        )
