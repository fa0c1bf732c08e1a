"""Jobs in embedded mode: no Redis, the bot process runs them itself as asyncio tasks.

The same promises as the worker: one job per source and kind while queued or running (a repeated request
is a no-op), and a concurrency limit (1: the embedded index has one writer). What a job does is injected
by the composition code (`ingestion.worker.inline_jobs`), so knowledge/ does not depend on ingestion/.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from knowledge.jobs import DELETE, SYNC, JobRequest, QueueStatus, job_id

log = logging.getLogger(__name__)

Run = Callable[[JobRequest], Awaitable[None]]


class InlineJobs:
    """`knowledge.jobs.Jobs` inside this process; `close()` finishes or cancels what is running."""

    def __init__(self, run_sync: Run, run_delete: Run, *, limit: int = 1) -> None:
        self._runs = {SYNC: run_sync, DELETE: run_delete}
        self._slots = asyncio.Semaphore(limit)
        self._jobs: dict[str, asyncio.Task[None]] = {}  # queued or running, by job id
        self._running: set[str] = set()
        self._closed = False

    async def request_sync(self, request: JobRequest) -> bool:
        """Start (or queue behind the running job) a sync; False when one is queued or running."""
        return self._start(SYNC, request)

    async def request_delete(self, request: JobRequest) -> bool:
        """Start (or queue) removing the source; False when one is queued or running."""
        return self._start(DELETE, request)

    def _start(self, kind: str, request: JobRequest) -> bool:
        key = job_id(kind, request.source_id)
        if self._closed or key in self._jobs:
            return False
        self._jobs[key] = asyncio.get_running_loop().create_task(self._run(kind, key, request), name=key)
        return True

    async def _run(self, kind: str, key: str, request: JobRequest) -> None:
        try:
            async with self._slots:
                self._running.add(key)
                await self._runs[kind](request)
        except Exception:  # the job reports its own errors; this is a bug, and must not pass silently
            log.exception("%s failed", key)
        finally:
            self._running.discard(key)
            self._jobs.pop(key, None)  # here, not in a done-callback: a new request may follow at once

    async def wait(self, kind: str, source_id: str) -> None:
        """Until the source's job of this kind (queued or running) has ended; at once when there is none."""
        task = self._jobs.get(job_id(kind, source_id))
        if task is not None:
            await asyncio.gather(asyncio.shield(task), return_exceptions=True)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold the writer's slot: no job runs meanwhile (e.g. `lore ingest` inside `lore serve`)."""
        async with self._slots:
            yield

    async def status(self) -> QueueStatus:
        """Jobs waiting for the slot, sources being worked on; the bot process is the one worker."""
        running = sorted(self._running)
        waiting = sorted(set(self._jobs) - self._running)
        removing = [key for key in running if key.startswith(job_id(DELETE, ""))]
        return QueueStatus(
            queued=len(waiting),
            queued_sources=[_source(key) for key in waiting],
            running=[_source(key) for key in running],
            removing=[_source(key) for key in removing],
            workers=1,
            detail="embedded mode: jobs run inside the bot process",
        )

    async def drain(self) -> None:
        """Wait until every queued and running job has ended (tests, and `close`)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def close(self, wait: float = 30.0) -> None:
        """Take no more jobs, drop queued ones, give running ones `wait` seconds, then cancel them.

        A cancelled sync is safe: state is written per document after its chunks are stored, so the next
        sync resumes where this one stopped.
        """
        self._closed = True
        for key, task in list(self._jobs.items()):
            if key not in self._running:
                task.cancel()
        pending = list(self._jobs.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._jobs.clear()  # a task cancelled before its first step never reached its `finally`


def _source(key: str) -> str:
    """The source id of a job id (`job_id(kind, source_id)`)."""
    return key.rsplit(":", 1)[-1]
