"""Which `lore worker` processes are alive, and handing back the jobs of those that are not.

Every worker keeps a heartbeat (`knowledge.jobs_arq.worker_key`, JSON with its host, pid and running job
ids) that expires `HEARTBEAT_TTL` seconds after its last refresh. arq marks a running job with an
in-progress key that only expires after the job timeout (hours, for a long sync), so a worker killed with
SIGKILL would leave its job stuck that long. Instead, at startup and with every heartbeat, each worker hands
back (deletes the in-progress key of) queued jobs that no live worker claims; the job is still in arq's
queue, so the next poll of any worker runs it again. A worker on this host whose pid is gone (or is ours:
a restarted container) is known dead at once, without waiting for its heartbeat to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from knowledge.jobs_arq import (
    HEARTBEAT_EVERY,
    HEARTBEAT_TTL,
    QUEUE,
    WORKER_PREFIX,
    in_progress_key,
    parse_job_id,
    worker_key,
)

log = logging.getLogger(__name__)

START_GRACE = 5.0  # seconds between arq marking a job in progress and our heartbeat naming it


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class Liveness:
    """One worker's heartbeat and the hand-back of orphaned jobs; arq's startup/shutdown/job hooks."""

    def __init__(self, in_progress_s: float) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"
        self.in_progress_s = in_progress_s  # arq's in-progress key lifetime (job timeout + 10 s)
        self.started = time.time()
        self.jobs: set[str] = set()
        self._redis: ArqRedis | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, ctx: dict[str, Any]) -> None:
        """on_startup: hand back orphans, then beat every `HEARTBEAT_EVERY` seconds."""
        self._redis = ctx["redis"]
        handed = await self.reclaim()
        if handed:
            log.warning("handed back jobs of workers that are gone: %s", ", ".join(handed))
        await self.beat()
        self._task = asyncio.get_running_loop().create_task(self._beating(), name="lore-heartbeat")

    async def stop(self, ctx: dict[str, Any]) -> None:
        """on_shutdown: stop beating and remove the heartbeat (this worker is gone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.delete(worker_key(self.id))

    async def job_started(self, ctx: dict[str, Any]) -> None:
        """on_job_start: name the job in the heartbeat at once, so that nobody hands it back."""
        if parse_job_id(ctx["job_id"]):
            self.jobs.add(ctx["job_id"])
            await self.beat()

    async def job_ended(self, ctx: dict[str, Any]) -> None:
        """after_job_end (arq has finished or re-queued it): the job is no longer ours."""
        if ctx["job_id"] in self.jobs:
            self.jobs.discard(ctx["job_id"])
            await self.beat()

    async def beat(self) -> None:
        """Refresh the heartbeat; a failure is logged (the next beat tries again)."""
        assert self._redis is not None
        data = {"host": self.host, "pid": self.pid, "started": self.started, "jobs": sorted(self.jobs)}
        try:
            await self._redis.set(worker_key(self.id), json.dumps(data), ex=HEARTBEAT_TTL)
        except (RedisError, OSError) as exc:
            log.warning("heartbeat failed: %s", exc)

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            await self.beat()
            try:
                handed = await self.reclaim()
            except (RedisError, OSError) as exc:
                log.warning("looking for orphaned jobs failed: %s", exc)
                continue
            if handed:
                log.warning("handed back jobs of workers that are gone: %s", ", ".join(handed))

    async def reclaim(self) -> list[str]:
        """Hand back queued jobs marked in progress that no live worker claims; returns their ids."""
        redis = self._redis
        assert redis is not None
        claimed: set[str] = set()
        async for raw_key in redis.scan_iter(match=f"{WORKER_PREFIX}*", count=100):
            key = raw_key.decode()
            raw = await redis.get(key)
            if raw is None:
                continue
            data = json.loads(raw)
            if key != worker_key(self.id) and self._dead_here(data):
                log.warning("worker %s (pid %s) is gone", key[len(WORKER_PREFIX) :], data.get("pid"))
                await redis.delete(key)
                continue
            claimed.update(data.get("jobs", []))
        handed = []
        for raw_id in await redis.zrange(QUEUE, 0, -1):
            arq_id = raw_id.decode()
            if parse_job_id(arq_id) is None or arq_id in claimed:
                continue
            left_ms = await redis.pttl(in_progress_key(arq_id))
            if left_ms < 0:  # not in progress (-2), or a key without expiry that is not arq's (-1)
                continue
            if self.in_progress_s * 1000 - left_ms < START_GRACE * 1000:
                continue  # just started: its worker may not have named it in its heartbeat yet
            if await redis.delete(in_progress_key(arq_id)):
                handed.append(arq_id)
        return handed

    def _dead_here(self, data: dict[str, Any]) -> bool:
        """A worker on this host whose process is gone; our own pid means a previous life of this one."""
        if data.get("host") != self.host or not isinstance(data.get("pid"), int):
            return False
        pid: int = data["pid"]
        return pid == self.pid or not _pid_alive(pid)
