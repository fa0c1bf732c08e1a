"""Wiring: the sync engine over a knowledge base, its state, and the source registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from ingestion.connectors.cache import connector_cache
from ingestion.parse_pool import ParsePool
from ingestion.state import SyncState, open_sync_state
from ingestion.sync import SyncEngine, SyncLimits
from knowledge.embedding.base import Embedder
from knowledge.index.base import Index
from knowledge.kv.redis import RedisStore
from knowledge.service import Knowledge, keyword_encoder
from knowledge.settings import Settings
from knowledge.sources import Registry, open_registry


def sync_engine(kb: Knowledge, parser: ParsePool, state: SyncState) -> SyncEngine:
    """A sync engine that writes into `kb`'s index with its embedder and settings."""
    return engine_over(kb.settings, kb.index, kb.embedder, parser, state)


def engine_over(
    settings: Settings, index: Index, embedder: Embedder, parser: ParsePool, state: SyncState
) -> SyncEngine:
    """A sync engine that writes into `index` with `embedder`, chunked and encoded as the settings say."""
    s = settings
    limits = SyncLimits(
        max_bytes=int(s.max_file_mb * 1_000_000),
        chunk_size=s.chunk_size,
        chunk_overlap=s.chunk_overlap,
        delete_guard_ratio=s.delete_guard_ratio,
        delete_guard_min=s.delete_guard_min,
    )
    return SyncEngine(
        index=index,
        embedder=embedder,
        sparse=keyword_encoder(s),
        state=state,
        parser=parser,
        limits=limits,
        caches=lambda source_id: connector_cache(source_id, settings),
    )


async def open_state(kb: Knowledge) -> SyncState:
    """The per-document sync state of `kb`'s settings (see `open_sync_state`)."""
    return await open_sync_state(kb.settings)


@asynccontextmanager
async def registry_of(settings: Settings) -> AsyncIterator[Registry]:
    """The source registry for one command; a Redis connection opened for it is closed at the end."""
    store = RedisStore(settings.redis_url) if settings.redis_url else None
    try:
        yield open_registry(settings, store)
    finally:
        if store is not None:
            await store.close()


async def open_engine(stack: AsyncExitStack, settings: Settings, kb: Knowledge | None = None) -> SyncEngine:
    """A sync engine over `kb` (opened from the settings when not given) with one parser process and the
    sync state; `stack` closes what this opened."""
    if kb is None:
        kb = await Knowledge.open(settings)
        stack.push_async_callback(kb.close)
    parser = ParsePool(workers=1, timeout=settings.parse_timeout)
    stack.push_async_callback(parser.close)
    state = await open_state(kb)
    stack.push_async_callback(state.close)
    return sync_engine(kb, parser, state)
