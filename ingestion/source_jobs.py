"""The two jobs a worker runs for a source: sync it (`run_sync`) and remove it (`run_delete`), with what
they record on the source's status and tell the admin who asked. `ingestion.worker` runs them on arq, or
in-process in embedded mode.

Each job records its progress on the source's status ("running", then the outcome) and tells the admin who
asked how it ended. Retryable errors (a source that cannot be listed, an index or embedder that is down) are
retried with exponential backoff; others are recorded and the job ends. A job cut short is handed back and
runs again from where it stopped: the sync engine writes state per document after its chunks are stored.

Removal is final: a sync whose source is removed while it runs leaves nothing of it, however it ends (see
`run_sync`), and a job that finds its source gone removes whatever is left of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from ingestion.connectors.base import Connector, ListingError
from ingestion.connectors.registry import connector_for
from ingestion.scheduler import listing_failed, status_from
from ingestion.sync import SourceRemoved, SyncEngine
from ingestion.sync_result import SyncResult
from ingestion.writes import finished
from knowledge.embedding.base import EmbeddingError
from knowledge.federation import Federation
from knowledge.index.base import IndexUnavailable
from knowledge.jobs import ALLOW_DELETES, JobRequest
from knowledge.kinds.catalog import installed_kinds
from knowledge.kv.base import StoreUnavailable
from knowledge.metrics import OUTCOMES, Metrics
from knowledge.notify import tell
from knowledge.settings import Settings
from knowledge.slack_text import escape
from knowledge.sources import Registry, Source, SourceRecord, SourceStatus

log = logging.getLogger(__name__)

MAX_TRIES = 4  # attempts of a job that keeps failing with a retryable error
RETRY_BASE = 30.0  # seconds before the first retry; doubled for each further one
JOB_TIMEOUT = 6 * 3600  # seconds a sync may run; it stops there, recorded, and the next one resumes
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
    """Sync one source, record its status and tell who asked; returns a backoff to retry after, or None.

    Removal is final, whatever the sync does next (finish, fail, retry, time out, be cancelled). The
    ordering argument: every write of the engine runs to its end even when the job is cancelled
    (`ingestion.writes.finished`), so once `engine.sync` has returned or raised, this sync writes nothing
    more. The check in the `finally` below comes after that last write. `run_delete` takes the source out
    of the registry BEFORE it removes the chunks. So either the removal's registry step came before our
    check, and the check sees the source gone and removes what the sync stored; or it came after, and then
    the removal's own chunk deletion runs after our last write. Either way no chunk of it survives. The
    engine also asks after each stored document, to stop early.
    """
    source_id = request.source_id
    record = await context.registry.get(source_id)
    if record is None:  # removed; perhaps a job handed back by a worker killed mid-sync: clean up after it
        await context.engine.remove_source(source_id)
        log.info("sync of %s skipped: no such source (removed?); anything left of it was removed", source_id)
        await context.tell(
            request.requested_by,
            f"Sync of `{source_id}` skipped: it is not registered (anything left of it in the index was "
            "removed).",
        )
        return None
    kind = installed_kinds().get(record.source.kind)
    if kind is not None and kind.question_time:  # nothing to sync: check that it answers
        await check_remote(context, request, record.source)
        return None
    try:
        delay = await _sync(context, request, record, attempt, retry)
    finally:
        removed = await finished(_removed_meanwhile(context, source_id))
    if removed:
        await context.tell(
            request.requested_by,
            f"Sync of `{source_id}` stopped: the source was removed meanwhile, and nothing of it is left.",
        )
        return None  # never retry a removed source
    return delay


async def _removed_meanwhile(context: WorkerContext, source_id: str) -> bool:
    """If the source is not registered any more, remove every chunk and all state of it; True if so."""
    try:
        if await context.registry.get(source_id) is not None:
            return False
    except Exception:  # the registry cannot tell: nothing is removed on a guess
        log.exception("cannot tell whether %s was removed during its sync", source_id)
        return False
    await context.engine.remove_source(source_id)
    log.info("source %s was removed during its sync; its chunks are gone", source_id)
    return True


async def _sync(
    context: WorkerContext, request: JobRequest, record: SourceRecord, attempt: int, retry: bool
) -> float | None:
    source, before = record.source, record.status
    await context.registry.record(source.id, before.model_copy(update={"state": "running"}))

    async def registered() -> bool:
        return await context.registry.get(source.id) is not None

    deadline = asyncio.timeout(context.job_timeout)
    try:
        async with deadline:
            result = await context.engine.sync(
                source.id,
                context.connector_for(source, context.settings),
                ceiling=source.ceiling,
                allow_deletes=request.allow_deletes,
                registered=registered,
            )
            await context.engine.index.optimize()
            chunks = await context.engine.index.count(source.id)
    except asyncio.CancelledError:  # shutdown: arq hands the job back
        queued = before.model_copy(update={"state": "queued"})
        await asyncio.shield(context.registry.record(source.id, queued))
        raise
    except SourceRemoved:
        return None  # run_sync removes what is left
    except Exception as exc:
        return await _sync_error(context, request, before, exc, attempt, retry, deadline.expired())
    await context.registry.record(source.id, status_from(result, chunks))
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
        status = _failed(f"sync stopped: {reason}", await _indexed(context, source_id))
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
            indexed = await _indexed(context, source_id)
            status, reason = listing_failed(exc, indexed), f"{exc}; nothing was deleted"
        else:
            indexed = await _indexed(context, source_id)
            status, reason = _failed(f"sync failed: {exc}", indexed), f"{exc}; {kept}"
    else:  # a bug or an unexpected error: recorded, never silent
        log.error("sync of %s failed", source_id, exc_info=exc)
        reason = f"unexpected {type(exc).__name__} (details in the worker's log); {kept}"
        status = _failed(f"sync failed: {reason}", await _indexed(context, source_id))
    _count_failure(context.metrics, source_id, "timeout" if timed_out else "failed")
    await context.registry.record(source_id, status)
    await context.tell(request.requested_by, f"Sync of `{source_id}` failed: {escape(reason)}.")
    return None


def _failed(summary: str, indexed: int | None) -> SourceStatus:
    """A failed sync's status; what it stored is kept (`indexed`: the chunks in the index now)."""
    return SourceStatus(last_sync=time.time(), ok=False, summary=summary, indexed=indexed)


async def _indexed(context: WorkerContext, source_id: str) -> int | None:
    """The source's chunks in the index now, or None when the index cannot say (it may be what failed)."""
    try:
        return await context.engine.index.count(source_id)
    except Exception as exc:  # the status is recorded all the same
        log.warning("counting the chunks of %s failed: %s", source_id, exc)
        return None


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


async def check_remote(context: WorkerContext, request: JobRequest, remote: Source) -> None:
    """A lore-remote source stores nothing: its "sync" checks that the other Lore answers with its key, so
    `/lore sources` shows whether it is reachable (a failed check deletes nothing, there is nothing here)."""
    federation = Federation.of(context.registry, context.settings)
    try:
        status = await federation.probe(remote)
    finally:
        await federation.close()
    await context.registry.record(remote.id, status)
    verdict = "answers" if status.ok else "does not answer"
    log.info("remote %s %s: %s", remote.id, verdict, status.summary)
    await context.tell(
        request.requested_by, f"Check of `{remote.id}`: it {verdict} ({escape(status.summary)})."
    )


def finished_text(result: SyncResult, chunks: int) -> str:
    """The message that tells an admin a sync finished, with its counts, the deletions the guard held back
    and the first document errors; names and reasons come from the source, so they are escaped."""
    source = result.source_id
    text = (
        f"Sync of `{source}` finished: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.deleted} deleted, {result.failed} failed ({chunks} chunks)."
    )
    if result.acl_updated:
        text += f" Access changed on {result.acl_updated} documents."
    if result.held:
        text += (
            f"\n*Nothing was deleted*: {result.held} of its {result.indexed} documents are gone from the "
            "listing, which is what an unmounted share or a moved folder looks like. If they are really "
            f"gone, confirm with `/lore sync {source} {ALLOW_DELETES}`."
        )
    if result.errors:
        shown = "; ".join(f"{escape(e.doc_id)}: {escape(e.reason)}" for e in result.errors[:SHOWN_ERRORS])
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
        request.requested_by,
        f"Removing source `{request.source_id}` failed: {escape(reason)}. Ask again to retry.",
    )
