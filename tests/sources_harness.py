"""A deployment for source tests as an admin lives them: one bot (Carl is its admin) on a real Redis
(registry, audit log, arq queue), an in-memory Qdrant index, and the worker context that syncs into it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient

from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState
from ingestion.worker import WorkerContext, run_worker
from knowledge.audit import StoreAudit
from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.server import ServerIndex
from knowledge.jobs_arq import ArqJobs
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import StoreRegistry
from lore.runtime import sync_engine
from tests.bot_harness import Bot, bot_harness, bot_settings
from tests.conftest import flushed_redis
from tests.slack_standin import SlackStandin

ADMIN = "UCARL"


@dataclass
class Deployment:
    bot: Bot
    kb: Knowledge
    index: ServerIndex
    registry: StoreRegistry
    audit: StoreAudit
    context: WorkerContext


@asynccontextmanager
async def deployed(
    settings: Settings,
    slack: SlackStandin,
    embedder: CachedEmbedder,
    redis_url: str,
    tmp_path: Path,
    **context: Any,
) -> AsyncIterator[Deployment]:
    """The deployment on a flushed Redis; `context` overrides fields of the WorkerContext (max_tries=1)."""
    store = await flushed_redis(redis_url)
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    tuned = bot_settings(settings, slack, admins=[ADMIN], redis_url=redis_url)
    kb = Knowledge(tuned, index, embedder)
    registry, audit, jobs = StoreRegistry(store), StoreAudit(store), await ArqJobs.open(redis_url)
    state = FileSyncState(tmp_path / "state.sqlite")
    engine = sync_engine(kb, ParsePool(workers=0), state)
    worker = WorkerContext(settings=tuned, engine=engine, registry=registry, **context)
    try:
        async with bot_harness(kb, [store], tuned, slack, registry=registry, audit=audit, jobs=jobs) as bot:
            yield Deployment(bot, kb, index, registry, audit, worker)
    finally:
        await jobs.close()
        await state.close()
        await store.close()
        await kb.answerer.close()
        await index.close()


async def work(context: WorkerContext, redis_url: str) -> None:
    """Run the worker until the queue is empty."""
    await run_worker(context, redis_url, burst=True, handle_signals=False)


async def docs_found(kb: Knowledge, query: str, grants: list[str]) -> set[str]:
    return {h.chunk.doc_id for h in await kb.retriever.search(query, grants, k=10)}


async def said(bot: Bot, text: str) -> dict[str, Any]:
    [reply] = await bot.replies(await bot.command(ADMIN, text))
    return reply
