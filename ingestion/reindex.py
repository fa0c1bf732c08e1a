"""`lore reindex`: the whole index rebuilt from the registered sources beside the live one, then switched to.

On a Qdrant server, Lore reads and writes the alias `LORE_COLLECTION`. The rebuild fills a new physical
collection while bots, the API and workers keep using the alias; when every source is in, the alias moves to
the new collection in one atomic request, and the previous collection is dropped (unless kept). The sync
state of the rebuild then replaces the live one, so the next scheduled sync continues from the new
collection (a document changed during the rebuild differs from that state and is synced again).

In embedded mode (Qdrant Edge) the new index is built in a folder beside the live one, and the folders are
swapped at the end; the previous folder is kept, since a running `lore bot` still reads it until restarted.

For a new embedding model, run it with the new model's settings and a new `LORE_COLLECTION`: bots and
workers then move over with their configuration, each always querying vectors of its own model.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel
from qdrant_client import AsyncQdrantClient

from ingestion.connectors.base import Connector, ListingError
from ingestion.connectors.registry import connector_for
from ingestion.state import FileSyncState, SyncState, open_sync_state
from ingestion.sync import SyncEngine
from knowledge.index.base import Index
from knowledge.index.collections import Collections, physical_name
from knowledge.index.edge import EdgeIndex
from knowledge.index.server import ServerIndex
from knowledge.kinds.catalog import installed_kinds
from knowledge.settings import Settings
from knowledge.sources import Registry, Source

log = logging.getLogger(__name__)

EngineFor = Callable[[Index, SyncState], SyncEngine]


class ReindexError(RuntimeError):
    """The rebuild stopped before the switch: the live index is untouched; the message says why."""


class Reindexed(BaseModel):
    """What a rebuild did."""

    built: str  # the new physical collection, or the new index folder
    previous: str | None  # what was live before (dropped, kept, or None)
    previous_kept: bool
    sources: list[str]  # one summary line per source
    chunks: int
    seconds: float


async def _sync_all(
    registry: Registry,
    engine: SyncEngine,
    settings: Settings,
    connect: Callable[[Source, Settings], Connector] = connector_for,
) -> list[str]:
    """Sync every registered source into the engine's (new) index; a failed listing stops everything."""
    lines = []
    for record in await registry.all():
        source = record.source
        kind = installed_kinds().get(source.kind)
        if kind is not None and kind.question_time:  # asked at question time: nothing stored here
            continue
        try:
            result = await engine.sync(source.id, connect(source, settings), ceiling=source.ceiling)
        except ListingError as exc:
            raise ReindexError(
                f"listing {source.id} failed ({exc}); nothing was switched: fix the source (or remove it) "
                "and run `lore reindex` again"
            ) from exc
        lines.append(result.line())
        log.info("reindexed %s", result.line())
    await engine.index.optimize()
    return lines


def _forget(database: Path) -> None:
    """Delete an SQLite database and its journal files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


async def _adopt_state(settings: Settings, built: Path) -> None:
    """Make the rebuild's sync state the live one, then delete its file."""
    live = await open_sync_state(settings)
    try:
        await live.replace_with(built)
    finally:
        await live.close()
    await asyncio.to_thread(_forget, built)


async def _build(
    settings: Settings,
    registry: Registry,
    engine_for: EngineFor,
    index: Index,
    state_path: Path,
    undo: Callable[[], Awaitable[None]],
) -> tuple[list[str], int]:
    """Fill `index` from every source with a fresh sync state at `state_path`; the summary lines and the
    chunk count. On any failure or cancellation, `undo` removes the new index and the state is deleted."""
    state = FileSyncState(state_path)
    try:
        lines = await _sync_all(registry, engine_for(index, state), settings)
        chunks = await index.count()
    except BaseException:
        await state.close()
        await undo()
        await asyncio.to_thread(_forget, state_path)
        raise
    await state.close()
    return lines, chunks


async def reindex_server(
    settings: Settings, registry: Registry, client: AsyncQdrantClient, engine_for: EngineFor, keep_old: bool
) -> Reindexed:
    """Rebuild into a new physical collection behind `LORE_COLLECTION`, then switch the alias to it."""
    started = time.monotonic()
    collections = Collections(client, settings.embedding_dim, settings.qdrant_replication)
    physical = physical_name(settings.collection)
    await collections.create(physical)
    index = ServerIndex(client, physical, settings.embedding_dim, settings.qdrant_replication)
    state_path = settings.data_dir / f"sync-state-{physical}.sqlite"
    lines, chunks = await _build(
        settings, registry, engine_for, index, state_path, lambda: collections.drop(physical)
    )
    previous = await collections.switch(settings.collection, physical)
    log.info("alias %s now names %s (was %s)", settings.collection, physical, previous)
    await _adopt_state(settings, state_path)
    if previous is not None and not keep_old:
        await collections.drop(previous)
    return Reindexed(
        built=physical,
        previous=previous,
        previous_kept=previous is not None and keep_old,
        sources=lines,
        chunks=chunks,
        seconds=time.monotonic() - started,
    )


async def reindex_edge(settings: Settings, registry: Registry, engine_for: EngineFor) -> Reindexed:
    """Rebuild into a new Qdrant Edge folder, then swap it with `LORE_DATA_DIR/index` (the old is kept)."""
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    folder = settings.data_dir / f"index-{stamp}"
    index = EdgeIndex(folder, settings.embedding_dim)
    state_path = settings.data_dir / f"sync-state-index-{stamp}.sqlite"

    async def undo() -> None:
        await index.close()
        await asyncio.to_thread(shutil.rmtree, folder, True)

    lines, chunks = await _build(settings, registry, engine_for, index, state_path, undo)
    await index.close()
    live, previous = settings.index_dir, settings.data_dir / f"index-before-{stamp}"
    had_live = await asyncio.to_thread(live.exists)
    if had_live:
        await asyncio.to_thread(os.replace, live, previous)
    await asyncio.to_thread(os.replace, folder, live)
    await _adopt_state(settings, state_path)
    return Reindexed(
        built=str(live),
        previous=str(previous) if had_live else None,
        previous_kept=had_live,
        sources=lines,
        chunks=chunks,
        seconds=time.monotonic() - started,
    )
