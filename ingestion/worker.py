"""The sync worker: arq jobs that sync or remove a source (`ingestion.source_jobs`), a schedule that queues
due sources, and `run_worker` (what `lore worker` runs).

A job cut short (SIGTERM after `LORE_WORKER_SHUTDOWN_WAIT`, or a killed worker, see `ingestion.liveness`) is
handed back and runs again from where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq.cron import cron
from arq.worker import Retry, Worker, func

from ingestion.liveness import Liveness
from ingestion.scheduler import Scheduler
from ingestion.source_jobs import WorkerContext, run_delete, run_sync
from knowledge.jobs import DELETE, SYNC, JobRequest, Jobs
from knowledge.jobs_arq import QUEUE, ArqJobs, deserialize, redis_settings, serialize
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.base import StoreUnavailable
from knowledge.metrics import Metrics

log = logging.getLogger(__name__)

CONTEXT = "lore"  # key of the WorkerContext in arq's ctx
HANDBACKS = 3  # extra runs arq allows for jobs handed back by a shutdown or a killed worker
POLL_DELAY = 0.5  # seconds between looks at the queue
ENQUEUE_DUE = "enqueue_due"  # the cron job's name


async def gauge_queue(metrics: Metrics, jobs: Jobs) -> None:
    """Set `lore_queue_depth` from the queue; a queue that cannot be read is logged, never raised."""
    try:
        metrics.queue_depth.set((await jobs.status()).queued)
    except StoreUnavailable as exc:
        log.warning("queue depth not read: %s", exc)


# ----- arq: the job functions, the schedule, and the worker


async def sync_source(
    ctx: dict[str, Any], source_id: str, requested_by: str | None, allow_deletes: bool = False
) -> None:
    """arq job `knowledge.jobs.SYNC`."""
    request = JobRequest(source_id=source_id, requested_by=requested_by, allow_deletes=allow_deletes)
    delay = await run_sync(ctx[CONTEXT], request, attempt=ctx["job_try"], retry=True)
    if delay is not None:
        raise Retry(defer=delay)


async def delete_source(ctx: dict[str, Any], source_id: str, requested_by: str | None) -> None:
    """arq job `knowledge.jobs.DELETE`."""
    request = JobRequest(source_id=source_id, requested_by=requested_by)
    delay = await run_delete(ctx[CONTEXT], request, attempt=ctx["job_try"], retry=True)
    if delay is not None:
        raise Retry(defer=delay)


async def enqueue_due(ctx: dict[str, Any]) -> int:
    """arq cron job: queue a sync of every source that is due; returns how many were queued."""
    context: WorkerContext = ctx[CONTEXT]
    jobs = ArqJobs(ctx["redis"])
    queued = await Scheduler(context.registry, jobs).request_due()
    await gauge_queue(context.metrics, jobs)
    return len(queued)


def build_worker(
    context: WorkerContext, redis_url: str, *, burst: bool = False, handle_signals: bool = True
) -> Worker:
    """An arq worker for our queue: at most `LORE_WORKER_JOBS` at a time, results not kept (ids free once
    done)."""
    tries = context.max_tries + HANDBACKS
    jobs = [
        func(job, name=name, keep_result=0, max_tries=tries, timeout=context.job_timeout + 60)  # type: ignore[arg-type]
        for job, name in ((sync_source, SYNC), (delete_source, DELETE))
    ]
    schedule = [cron(enqueue_due, name=ENQUEUE_DUE, second=0, run_at_startup=True, timeout=60)]  # type: ignore[arg-type]
    liveness = Liveness(in_progress_s=0)  # set below, from arq's own figure
    worker = Worker(
        functions=jobs,
        cron_jobs=None if burst else schedule,
        queue_name=QUEUE,
        redis_settings=redis_settings(redis_url),
        burst=burst,
        on_startup=liveness.start,
        on_shutdown=liveness.stop,
        on_job_start=liveness.job_started,
        after_job_end=liveness.job_ended,
        handle_signals=handle_signals,
        job_completion_wait=context.settings.worker_shutdown_wait,
        max_jobs=context.settings.worker_jobs,
        job_timeout=context.job_timeout + 60,
        keep_result=0,
        poll_delay=POLL_DELAY,
        max_tries=tries,
        ctx={CONTEXT: context},
        job_serializer=serialize,
        job_deserializer=deserialize,
    )
    liveness.in_progress_s = worker.in_progress_timeout_s
    return worker


async def run_worker(
    context: WorkerContext, redis_url: str, *, burst: bool = False, handle_signals: bool = True
) -> Worker:
    """Run jobs until SIGTERM/SIGINT (or, with `burst`, until the queue is empty); returns the worker.

    On a signal the worker takes no new job and waits up to `LORE_WORKER_SHUTDOWN_WAIT` seconds (25) for the
    running ones;
    those still running are cancelled, and arq puts them back at the head of the queue.
    """
    return await work(build_worker(context, redis_url, burst=burst, handle_signals=handle_signals))


def working(worker: Worker) -> bool:
    """True while the worker's loop runs: connected to Redis, and not ended (stopped or failed)."""
    task = worker.main_task
    return task is not None and not task.done() and "redis" in worker.ctx


async def work(worker: Worker) -> Worker:
    """Run a built worker as `run_worker` does; returns it."""
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled, not stopped by arq's signal handler
    finally:
        await worker.close()
    return worker


def inline_jobs(context: WorkerContext) -> InlineJobs:
    """Embedded mode's jobs (no Redis): the same sync and delete, one at a time in this process.

    No retries here: a failed sync is recorded, and the scheduler tries again when the source is next due.
    """

    async def sync(request: JobRequest) -> None:
        await run_sync(context, request)

    async def delete(request: JobRequest) -> None:
        await run_delete(context, request)

    return InlineJobs(sync, delete, limit=1)
