"""The host of a terminal command sent to a running `lore serve`: that process's index, registry and jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass

from ingestion.source_jobs import WorkerContext, run_delete, run_sync
from knowledge.jobs import DELETE, SYNC, JobRequest
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.redis import RedisStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Registry
from lore.commands.host import Terminal


@dataclass
class Shared:
    """What `lore serve` opened once and lends to every command it runs (it closes them, not the commands).
    `jobs` are its in-process jobs over the embedded index; None when `lore worker`s run them (fleet)."""

    settings: Settings
    kb: Knowledge
    redis: RedisStore | None
    context: WorkerContext
    jobs: InlineJobs | None


@dataclass
class ServedHost:
    """A command inside `lore serve`, writing to the terminal that sent it."""

    shared: Shared
    terminal: Terminal
    served: bool = True

    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def queues_jobs(self) -> bool:
        """Only in a fleet: else `lore serve` runs the jobs (also with Redis beside its embedded index)."""
        return self.shared.jobs is None

    @asynccontextmanager
    async def knowledge(self) -> AsyncIterator[Knowledge]:
        yield self.shared.kb

    @asynccontextmanager
    async def redis(self) -> AsyncIterator[RedisStore | None]:
        yield self.shared.redis

    @asynccontextmanager
    async def registry(self) -> AsyncIterator[Registry]:
        yield self.shared.context.registry

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[WorkerContext]:
        yield self.shared.context

    def writing(self) -> AbstractAsyncContextManager[object]:
        """The jobs' writer slot: a scheduled sync and this command never write the index at once."""
        return self.shared.jobs.slot() if self.shared.jobs is not None else nullcontext()

    async def run_job(self, kind: str, request: JobRequest) -> None:
        """Through the process's jobs (one per source: a sync already running is waited for, not doubled)."""
        jobs = self.shared.jobs
        if jobs is None:
            await (run_delete if kind == DELETE else run_sync)(self.shared.context, request)
            return
        request_job = jobs.request_delete if kind == DELETE else jobs.request_sync
        job = DELETE if kind == DELETE else SYNC
        if not await request_job(request):  # one is queued or running: this request runs after it
            await jobs.wait(job, request.source_id)
            await request_job(request)
        await jobs.wait(job, request.source_id)
