"""Keeps registered sources in sync: every tick, each due source is synced and its status recorded.

Embedded mode runs it inside the bot process (one process owns the on-disk index). A failed listing is
recorded against the source and prunes nothing; the next tick tries again once the source is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from ingestion.connectors.base import Connector, ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.sync import SyncEngine, SyncResult
from knowledge.sources import FileRegistry, Source

log = logging.getLogger(__name__)

TICK = 30.0  # seconds between looks at what is due


def connector_for(source: Source) -> Connector:
    """The connector of a registered source."""
    return FilesConnector([Path(p) for p in source.location], source.access)


class Scheduler:
    """Syncs due sources one at a time (the embedded index has one writer)."""

    def __init__(self, engine: SyncEngine, registry: FileRegistry) -> None:
        self.engine = engine
        self.registry = registry

    async def run_due(self, now: float | None = None) -> list[SyncResult]:
        """Sync every source that is due now; returns the results of those that could be listed."""
        moment = time.time() if now is None else now
        results = []
        for record in await self.registry.all():
            if not record.due(moment):
                continue
            source = record.source
            try:
                result = await self.engine.sync(source.id, connector_for(source))
            except ListingError as exc:
                log.error("sync of %s failed, nothing pruned: %s", source.id, exc)
                await self.registry.record(source.id, False, f"listing failed: {exc}", [])
                continue
            errors = [f"{e.doc_id}: {e.reason}" for e in result.errors]
            await self.registry.record(source.id, not result.failed, result.line(), errors)
            log.info("synced %s", result.line())
            results.append(result)
        return results

    async def run(self, stop: asyncio.Event, tick: float = TICK) -> None:
        """Sync due sources every `tick` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception:  # one bad sync must not stop the schedule
                log.exception("scheduled sync failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
