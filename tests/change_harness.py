"""A small deployment for tests that change the world between two syncs: the registry of embedded mode (its
JSON file), an in-memory Qdrant index, the real sync engine, the worker's jobs (`run_sync`, `run_delete`)
and a real search as any principal.

    async with world(settings, embedder, tmp_path) as w:
        await w.registry.put(source)
        status = await synced(w, "wiki")
        assert "hr/pay.md" in await found(w, "bonus pool", ["public", "group:hr"])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient

from ingestion.parse_pool import ParsePool
from ingestion.source_jobs import WorkerContext, run_sync
from ingestion.state import FileSyncState
from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.base import Index
from knowledge.index.server import ServerIndex
from knowledge.jobs import JobRequest
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import FileRegistry, SourceStatus
from lore.runtime import engine_over
from tests.test_worker import Told

ADMIN = "UADMIN"


@dataclass
class World:
    kb: Knowledge
    index: ServerIndex
    registry: FileRegistry
    context: WorkerContext
    told: Told


@asynccontextmanager
async def world(
    settings: Settings,
    embedder: CachedEmbedder,
    tmp_path: Path,
    writes_through: Callable[[Index], Index] | None = None,
    **context: Any,
) -> AsyncIterator[World]:
    """The deployment; `context` overrides fields of the WorkerContext (connector_for, job_timeout);
    `writes_through` wraps the index the sync engine writes to (searches read the index itself)."""
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    kb = Knowledge(settings, index, embedder)
    state = FileSyncState(tmp_path / "state.sqlite")
    written = writes_through(index) if writes_through else index
    engine = engine_over(settings, written, embedder, ParsePool(workers=0), state)
    registry, told = FileRegistry(settings.data_dir / "sources.json"), Told()
    worker = WorkerContext(settings=settings, engine=engine, registry=registry, notify=told, **context)
    try:
        yield World(kb, index, registry, worker, told)
    finally:
        await state.close()
        await kb.answerer.close()
        await index.close()


async def synced(w: World, source_id: str, *, allow_deletes: bool = False) -> SourceStatus:
    """One sync as the worker runs it, asked for by ADMIN; the status it left."""
    request = JobRequest(source_id=source_id, requested_by=ADMIN, allow_deletes=allow_deletes)
    await run_sync(w.context, request)
    record = await w.registry.get(source_id)
    assert record is not None
    return record.status


async def found(w: World, query: str, grants: list[str]) -> dict[str, str]:
    """What a real search as `grants` returns: doc id -> the text of its chunks found."""
    texts: dict[str, str] = {}
    for hit in await w.kb.retriever.search(query, grants, k=10):
        texts[hit.chunk.doc_id] = texts.get(hit.chunk.doc_id, "") + hit.chunk.text
    return texts


def last_told(w: World) -> str:
    """The last message the admin was sent."""
    assert w.told.messages, "the admin was told nothing"
    return w.told.messages[-1][1]
