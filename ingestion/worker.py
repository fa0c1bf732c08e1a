"""The sync worker: arq jobs that sync or remove a source, a schedule that queues due sources, and
`run_worker` (what `lore worker` runs).

Each job records its progress on the source's status ("running", then the outcome) and tells the admin who
asked how it ended. Retryable errors (a source that cannot be listed, an index or embedder that is down) are
retried with exponential backoff; others are recorded and the job ends. A job cut short (SIGTERM after
`SHUTDOWN_WAIT`, or a killed worker, see `ingestion.liveness`) is handed back and runs again from where it
stopped: the sync engine writes state per document after its chunks are stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from arq.cron import cron
from arq.worker import Retry, Worker, func

from ingestion.connectors.base import Connector, ListingError
from ingestion.connectors.registry import connector_for
from ingestion.liveness import Liveness
from ingestion.scheduler import Scheduler, listing_failed, status_from
from ingestion.sync import SyncEngine, SyncResult
from knowledge.embedding.base import EmbeddingError
from knowledge.federation import Federation
from knowledge.index.base import IndexUnavailable
from knowledge.jobs import DELETE, SYNC, JobRequest, Jobs
from knowledge.jobs_arq import QUEUE, ArqJobs, deserialize, redis_settings, serialize
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.base import StoreUnavailable
from knowledge.metrics import OUTCOMES, Metrics
from knowledge.notify import tell
from knowledge.settings import Settings
from knowledge.sources import REMOTE_KIND, Registry, Source, SourceRecord, SourceStatus

log = logging.getLogger(__name__)

CONTEXT = "lore"  # key of the WorkerContext in arq's ctx
MAX_JOBS = 2  # jobs one worker runs at a time
MAX_TRIES = 4  # attempts of a job that keeps failing with a retryable error
HANDBACKS = 3  # extra runs arq allows for jobs handed back by a shutdown or a killed worker
RETRY_BASE = 30.0  # seconds before the first retry; doubled for each further one
JOB_TIMEOUT = 6 * 3600  # seconds a sync may run; it stops there, recorded, and the next one resumes
SHUTDOWN_WAIT = 25  # seconds SIGTERM waits for running jobs before handing them back
POLL_DELAY = 0.5  # seconds between looks at the queue
ENQUEUE_DUE = "enqueue_due"  # the cron job's name
RETRYABLE = (ListingError, IndexUnavailable, EmbeddingError, StoreUnavailable)
SHOWN_ERRORS = 3  # document errors quoted in a "finished" message

Notify = Callable[[str | None, str], Awaitable[object]]


@dataclass
class WorkerContext:
    """What jobs work with; built by the composition code (`lore worker`, or the bot in embedded mode)."""

    settings: Settings
    engine: SyncEngine
    registry: Registry
    notify: Notify | None = None  # default: a Slack DM with the settings' bot token
    connector_for: Callable[[Source, Settings], Connector] = connector_for
    retry_base: float = RETRY_BASE
    max_tries: int = MAX_TRIES
    job_timeout: float = JOB_TIMEOUT  # a sync stops (and records why) after this; arq's limit is longer
    metrics: Metrics = field(default_factory=Metrics)  # documents, errors and runs per source; queue depth
    _tell: Notify = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tell = self.notify or partial(tell, self.settings)

    async def tell(self, user_id: str | None, text: str) -> None:
        """Tell the admin who asked; never raises (the outcome is on the source's status anyway)."""
        if not user_id:
            return
        try:
            await self._tell(user_id, text)
        except Exception:  # a notification must not fail the job it reports on
            log.exception("telling %s failed", user_id)
            log.debug("what %s was not told: %s", user_id, text)


def backoff(context: WorkerContext, attempt: int) -> float | None:
    """Seconds before the next attempt after `attempt` failed, or None when it was the last one."""
    return context.retry_base * 2 ** (attempt - 1) if attempt < context.max_tries else None


async def run_sync(
    context: WorkerContext, request: JobRequest, *, attempt: int = 1, retry: bool = False
) -> float | None:
    """Sync one source, record its status and tell who asked; returns a backoff to retry after, or None."""
    source_id = request.source_id
    record = await context.registry.get(source_id)
    if record is None:
        log.info("sync of %s skipped: no such source (removed?)", source_id)
        await context.tell(request.requested_by, f"Sync of `{source_id}` skipped: it is not registered.")
        return None
    if record.source.kind == REMOTE_KIND:
        await check_remote(context, request, record.source)
        return None
    before = record.status
    await context.registry.record(source_id, before.model_copy(update={"state": "running"}))
    deadline = asyncio.timeout(context.job_timeout)
    try:
        async with deadline:
            result = await context.engine.sync(
                source_id, context.connector_for(record.source, context.settings)
            )
            if await context.registry.get(source_id) is None:  # removed while syncing: undo what we added
                await context.engine.remove_source(source_id)
                log.info("source %s was removed during its sync; its chunks are gone", source_id)
                return None
            await context.engine.index.optimize()
            chunks = await context.engine.index.count(source_id)
    except asyncio.CancelledError:  # shutdown: arq hands the job back
        queued = before.model_copy(update={"state": "queued"})
        await asyncio.shield(context.registry.record(source_id, queued))
        raise
    except Exception as exc:
        return await _sync_error(context, request, before, exc, attempt, retry, deadline.expired())
    await context.registry.record(source_id, status_from(result))
    count_sync(context.metrics, result)
    log.info("synced %s", result.line())
    await context.tell(request.requested_by, finished_text(result, chunks))
    return None


async def _sync_error(
    context: WorkerContext,
    request: JobRequest,
    before: SourceStatus,
    exc: Exception,
    attempt: int,
    retry: bool,
    timed_out: bool,
) -> float | None:
    """Retry a retryable error after a backoff, else record the failure and tell who asked."""
    source_id = request.source_id
    kept = "what was stored is kept, and the next sync continues from there"
    if timed_out:
        log.error("sync of %s stopped after %.0f s", source_id, context.job_timeout)
        limit = context.job_timeout
        reason = f"it took longer than {f'{limit / 3600:g} h' if limit >= 3600 else f'{limit:g} s'}; {kept}"
        status = _failed(f"sync stopped: {reason}")
    elif isinstance(exc, RETRYABLE):
        delay = backoff(context, attempt) if retry and getattr(exc, "retryable", True) else None
        if delay is not None:
            log.warning("sync of %s failed (try %d), retrying in %.1f s: %s", source_id, attempt, delay, exc)
            _count_failure(context.metrics, source_id, "retry")
            note = f"try {attempt} failed: {exc}; retrying in {delay:.0f} s"
            await context.registry.record(
                source_id, before.model_copy(update={"state": "queued", "summary": note})
            )
            return delay
        log.error("sync of %s failed: %s", source_id, exc)
        if isinstance(exc, ListingError):  # nothing was listed, so nothing was pruned
            status, reason = listing_failed(exc), f"{exc}; nothing was deleted"
        else:
            status, reason = _failed(f"sync failed: {exc}"), f"{exc}; {kept}"
    else:  # a bug or an unexpected error: recorded, never silent
        log.error("sync of %s failed", source_id, exc_info=exc)
        reason = f"unexpected {type(exc).__name__} (details in the worker's log); {kept}"
        status = _failed(f"sync failed: {reason}")
    _count_failure(context.metrics, source_id, "timeout" if timed_out else "failed")
    await context.registry.record(source_id, status)
    await context.tell(request.requested_by, f"Sync of `{source_id}` failed: {reason}.")
    return None


def _failed(summary: str) -> SourceStatus:
    return SourceStatus(last_sync=time.time(), ok=False, summary=summary)


def count_sync(metrics: Metrics, result: SyncResult) -> None:
    """Count a finished sync: its documents by outcome, the documents it skipped, one run `ok`."""
    source = result.source_id
    for outcome in OUTCOMES:
        metrics.sync_documents.labels(source=source, outcome=outcome).inc(getattr(result, outcome))
    metrics.sync_errors.labels(source=source, stage="document").inc(result.failed)
    metrics.sync_runs.labels(source=source, result="ok").inc()


def _count_failure(metrics: Metrics, source: str, result: str) -> None:
    metrics.sync_errors.labels(source=source, stage="sync").inc()
    metrics.sync_runs.labels(source=source, result=result).inc()


async def gauge_queue(metrics: Metrics, jobs: Jobs) -> None:
    """Set `lore_queue_depth` from the queue; a queue that cannot be read is logged, never raised."""
    try:
        metrics.queue_depth.set((await jobs.status()).queued)
    except StoreUnavailable as exc:
        log.warning("queue depth not read: %s", exc)


async def check_remote(context: WorkerContext, request: JobRequest, remote: Source) -> None:
    """A lore-remote source stores nothing: its "sync" checks that the other Lore answers with its key, so
    `/lore sources` shows whether it is reachable (a failed check deletes nothing, there is nothing here)."""
    federation = Federation(context.registry, context.settings.remote_timeout)
    try:
        status = await federation.probe(remote)
    finally:
        await federation.close()
    await context.registry.record(remote.id, status)
    verdict = "answers" if status.ok else "does not answer"
    log.info("remote %s %s: %s", remote.id, verdict, status.summary)
    await context.tell(request.requested_by, f"Check of `{remote.id}`: it {verdict} ({status.summary}).")


def finished_text(result: SyncResult, chunks: int) -> str:
    """The message that tells an admin a sync finished, with its counts and first document errors."""
    text = (
        f"Sync of `{result.source_id}` finished: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.deleted} deleted, {result.failed} failed ({chunks} chunks)."
    )
    if result.acl_updated:
        text += f" Access changed on {result.acl_updated} documents."
    if result.errors:
        shown = "; ".join(f"{e.doc_id}: {e.reason}" for e in result.errors[:SHOWN_ERRORS])
        more = len(result.errors) - SHOWN_ERRORS
        text += f"\nFailed: {shown}" + (f" (and {more} more)" if more > 0 else "")
    return text


async def run_delete(
    context: WorkerContext, request: JobRequest, *, attempt: int = 1, retry: bool = False
) -> float | None:
    """Remove a source and every chunk of it; returns a backoff to retry after, or None.

    The registry entry goes first, so that a sync running at the same time sees the source gone when it
    ends and removes what it added; if removing the chunks then fails for good, the entry is put back.
    """
    source_id = request.source_id
    record = await context.registry.get(source_id)
    try:
        chunks = await context.engine.index.count(source_id)
        await context.registry.remove(source_id)
        await context.engine.remove_source(source_id)
    except RETRYABLE as exc:
        delay = backoff(context, attempt) if retry and getattr(exc, "retryable", True) else None
        if delay is not None:
            log.warning(
                "removing %s failed (attempt %d), retrying in %.1f s: %s", source_id, attempt, delay, exc
            )
            return delay
        await _delete_failed(context, request, record, str(exc))
        return None
    except Exception as exc:
        log.exception("removing %s failed", source_id)
        await _delete_failed(
            context, request, record, f"unexpected {type(exc).__name__} (see the worker's log)"
        )
        return None
    log.info("removed source %s and its %d chunks", source_id, chunks)
    await context.tell(request.requested_by, f"Removed source `{source_id}` and its {chunks} chunks.")
    return None


async def _delete_failed(
    context: WorkerContext, request: JobRequest, record: SourceRecord | None, reason: str
) -> None:
    log.error("removing %s failed: %s", request.source_id, reason)
    if record is not None:  # back in the registry, so that an admin sees it and can ask again
        await context.registry.put(record.source)
        await context.registry.record(
            request.source_id,
            record.status.model_copy(update={"state": "idle", "summary": f"removal failed: {reason}"}),
        )
    await context.tell(
        request.requested_by, f"Removing source `{request.source_id}` failed: {reason}. Ask again to retry."
    )


# ----- arq: the job functions, the schedule, and the worker


async def sync_source(ctx: dict[str, Any], source_id: str, requested_by: str | None) -> None:
    """arq job `knowledge.jobs.SYNC`."""
    request = JobRequest(source_id=source_id, requested_by=requested_by)
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
    """An arq worker for our queue: at most `MAX_JOBS` at a time, results not kept (ids free once done)."""
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
        job_completion_wait=SHUTDOWN_WAIT,
        max_jobs=MAX_JOBS,
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

    On a signal the worker takes no new job and waits up to `SHUTDOWN_WAIT` seconds for the running ones;
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
