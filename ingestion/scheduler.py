"""Keeps registered sources in sync: every tick, a sync of each due source is requested; and the status
a sync leaves on its source.

A failed listing is recorded against the source and prunes nothing; it is tried again when next due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ingestion.connectors.base import ListingError
from ingestion.sync_result import SyncResult
from knowledge.jobs import JobRequest, Jobs
from knowledge.sources import Registry, SourceStatus

log = logging.getLogger(__name__)

TICK = 30.0  # seconds between looks at what is due


def status_from(result: SyncResult, indexed: int | None = None) -> SourceStatus:
    """The status a sync leaves on its source: counts, the summary line (with deletions the guard held
    back, and how to confirm them), the first document errors and the chunks now `indexed`."""
    return SourceStatus(
        last_sync=time.time(),
        ok=result.ok,
        summary=result.line(),
        errors=[f"{e.doc_id}: {e.reason}" for e in result.errors],
        added=result.added,
        updated=result.updated,
        unchanged=result.unchanged,
        deleted=result.deleted,
        failed=result.failed,
        chunks=result.chunks,
        indexed=indexed,
    )


def listing_failed(error: ListingError, indexed: int | None = None) -> SourceStatus:
    """The status of a sync whose listing failed: nothing was changed or pruned (`indexed` stays)."""
    return SourceStatus(last_sync=time.time(), ok=False, summary=f"listing failed: {error}", indexed=indexed)


class Scheduler:
    """Asks for a sync of every due source: through arq in production (the worker's cron), through the
    in-process jobs in embedded mode. The jobs, not the scheduler, run syncs, so a scheduled sync and one
    an admin asked for never overlap."""

    def __init__(self, registry: Registry, jobs: Jobs) -> None:
        self.registry = registry
        self.jobs = jobs

    async def request_due(self, now: float | None = None) -> list[str]:
        """Request a sync of every source due at `now`; returns the ids newly queued."""
        moment = time.time() if now is None else now
        queued = []
        for record in await self.registry.all():
            if not record.due(moment):
                continue
            if record.status.state == "idle":  # before requesting: the job may start (and say "running")
                await self.registry.record(
                    record.source.id, record.status.model_copy(update={"state": "queued"})
                )
            if await self.jobs.request_sync(JobRequest(source_id=record.source.id)):
                queued.append(record.source.id)
        return queued

    async def run(self, stop: asyncio.Event, tick: float = TICK) -> None:
        """Request due syncs every `tick` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.request_due()
            except Exception:  # a failing registry must not stop the schedule
                log.exception("scheduling syncs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
