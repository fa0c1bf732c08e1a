"""Sync speed through the worker's job path: `run_sync(context, JobRequest)`, the function the arq worker and
embedded mode run for a registered source.

1. Initial sync throughput (documents and chunks per second) of a files source with the bundled model behind
   a fresh cache, against the model's raw throughput on the very same chunk texts in the same run.
2. A re-sync of an unchanged corpus of many small synthetic documents as a fraction of its initial sync.
   Embedding 10,000 documents with the bundled model takes about an hour on 2 cores, so that corpus is
   first synced with `HashEmbedder`, a deterministic stand-in used ONLY to make the initial sync
   affordable; the real model would make the initial sync far slower and the fraction far smaller, so the
   figure is an upper bound.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

from pydantic import BaseModel

from bench.common import bench_settings
from ingestion.parse_pool import ParsePool
from ingestion.source_jobs import WorkerContext, run_sync
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.factory import open_model
from knowledge.index.edge import EdgeIndex
from knowledge.jobs import JobRequest
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import FileRegistry, Source, SourceStatus
from lore.runtime import open_state, sync_engine

WORDS = [
    "budget",
    "review",
    "travel",
    "policy",
    "onboarding",
    "laptop",
    "security",
    "vacation",
    "payroll",
    "customer",
    "contract",
    "release",
    "roadmap",
    "meeting",
    "office",
    "expense",
    "approval",
    "manager",
    "handbook",
    "support",
    "incident",
]


class HashEmbedder:
    """A deterministic stand-in embedder (NOT a model): normalised vectors from a hash of the text.

    Used ONLY to make the initial sync of the large synthetic corpus affordable (the bundled model embeds
    about 3 chunks/s here); the re-sync it is compared with embeds nothing either way.
    """

    name = "bench-hash-stand-in"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def _vector(self, text: str) -> list[float]:
        seed = hashlib.sha256(text.encode()).digest()
        raw: list[float] = []
        block = 0
        while len(raw) < self.dim:
            digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
            raw += [b / 127.5 - 1.0 for b in digest]
            block += 1
        raw = raw[: self.dim]
        norm = math.sqrt(sum(x * x for x in raw)) or 1.0
        return [x / norm for x in raw]

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    async def close(self) -> None:
        return None


class SyncSpeed(BaseModel):
    """Initial sync with the real model and its raw embedding; a large corpus synced twice."""

    documents: int
    chunks: int
    sync_s: float
    raw_embed_s: float
    corpus_documents: int
    corpus_chunks: int
    corpus_sync_s: float
    resync_s: float
    resync_embedded: int  # texts the re-sync sent to the (stand-in) model: 0 when nothing was re-embedded
    other_worker_s: float  # the re-sync by a second worker (own data dir, shared Redis state and index)
    other_worker_embedded: int

    @property
    def ratio(self) -> float:
        """Sync chunks/s over raw embedder chunks/s (1.0 = the sync costs only the embedding)."""
        return self.raw_embed_s / self.sync_s

    @property
    def resync_fraction(self) -> float:
        """Re-sync time of the unchanged large corpus as a fraction of its initial sync."""
        return self.resync_s / self.corpus_sync_s


async def _noop_notify(user_id: str | None, text: str) -> None:
    return None


async def _timed_sync(kb: Knowledge, data_dir: Path, source: Source) -> tuple[float, SourceStatus]:
    """Register `source` and sync it once through `run_sync`; seconds and the status it recorded."""
    registry = FileRegistry(data_dir / "sources.json")
    if await registry.get(source.id) is None:
        await registry.put(source)
    parser = ParsePool(workers=1, timeout=kb.settings.parse_timeout)
    state = await open_state(kb)
    try:
        context = WorkerContext(
            settings=kb.settings,
            engine=sync_engine(kb, parser, state),
            registry=registry,
            notify=_noop_notify,
        )
        started = time.perf_counter()
        await run_sync(context, JobRequest(source_id=source.id))
        seconds = time.perf_counter() - started
    finally:
        await state.close()
        await parser.close()
    record = await registry.get(source.id)
    assert record is not None and record.status.ok, f"sync of {source.id} failed: {record}"
    return seconds, record.status


def synthetic_corpus(folder: Path, documents: int) -> list[Path]:
    """`documents` small Markdown files (a title and one short paragraph each), all different."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(documents):
        words = " ".join(WORDS[(n * 7 + k * 3) % len(WORDS)] for k in range(40))
        path = folder / f"{n // 1000:02d}" / f"doc-{n:05d}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# Note {n}\n\nNote {n} is about {words}.\n", encoding="utf-8")
        files.append(path)
    return files


async def measure_pages(files: list[Path], workdir: Path) -> tuple[int, int, float, float]:
    """Sync `files` as a source with the real model (cold cache), then embed the same texts raw."""
    data = workdir / "pages"
    settings = bench_settings(data)
    source = Source(id="speed", location=[str(f) for f in files], access=["public"], every=0, added_by="cli")
    async with await Knowledge.open(settings) as kb:
        seconds, status = await _timed_sync(kb, data, source)
        texts = []
        for f in files:
            texts += [c.embedding_text() for c in await kb.index.document_chunks("speed", f.name, ["public"])]
    assert len(texts) == status.chunks, "every chunk of the sync is read back"
    model = open_model(settings)
    started = time.perf_counter()
    await model.embed_passages(texts)
    raw = time.perf_counter() - started
    await model.close()
    return status.added, status.chunks, seconds, raw


async def _stand_in_kb(settings: Settings) -> Knowledge:
    index = EdgeIndex(settings.index_dir, settings.embedding_dim)  # embedded, also when settings name a fleet
    await index.ensure()
    cache = EmbeddingCache(settings.data_dir / "embeddings.sqlite")
    embedder = CachedEmbedder(HashEmbedder(settings.embedding_dim), cache)
    return Knowledge(settings, index, embedder)


# A fleet's settings keep the sync state in Redis; the index here is still one Qdrant Edge shard, opened once
# and handed to both workers (no Qdrant server binary exists here), so this URL is never reached.
FLEET_QDRANT = "http://qdrant.invalid:6333"


async def measure_resync(
    documents: int, workdir: Path, redis_url: str
) -> tuple[int, int, float, float, int, float, int]:
    """Sync a synthetic corpus (stand-in embedder) as worker A, re-sync it unchanged as A, then as worker B
    (its own data dir and embedding cache, the same Redis state and index); figures of all three."""
    data = workdir / "corpus"
    folder = workdir / "corpus-files"
    synthetic_corpus(folder, documents)
    settings = bench_settings(data, redis_url=redis_url, qdrant_url=FLEET_QDRANT)
    source = Source(id="corpus", location=[str(folder)], access=["public"], every=0, added_by="cli")
    async with await _stand_in_kb(settings) as kb:
        first_s, first = await _timed_sync(kb, data, source)
        embedded = kb.embedder.texts_embedded
    async with await _stand_in_kb(settings) as kb:  # a fresh process's view: state, cache and index reopened
        second_s, second = await _timed_sync(kb, data, source)
        resync_embedded = kb.embedder.texts_embedded
        other = bench_settings(workdir / "worker-b", redis_url=redis_url, qdrant_url=FLEET_QDRANT)
        b_cache = EmbeddingCache(other.data_dir / "embeddings.sqlite")
        b_embedder = CachedEmbedder(HashEmbedder(other.embedding_dim), b_cache)
        try:  # worker B: another data dir, the same index (Qdrant in a fleet) and Redis
            b_s, b_status = await _timed_sync(Knowledge(other, kb.index, b_embedder), other.data_dir, source)
        finally:
            b_cache.close()
    assert first.added == documents and second.unchanged == documents == b_status.unchanged, (first, b_status)
    assert embedded >= first.chunks > 0
    return first.added, first.chunks, first_s, second_s, resync_embedded, b_s, b_embedder.texts_embedded


async def measure(files: list[Path], documents: int, workdir: Path, redis_url: str) -> SyncSpeed:
    """Both measures; `files` are synced with the real model, `documents` synthetic ones with the stand-in
    (the sync state in the Redis at `redis_url`, as in a fleet)."""
    docs, chunks, sync_s, raw_s = await measure_pages(files, workdir)
    (
        corpus_docs,
        corpus_chunks,
        corpus_s,
        resync_s,
        resync_embedded,
        other_s,
        other_embedded,
    ) = await measure_resync(documents, workdir, redis_url)
    return SyncSpeed(
        documents=docs,
        chunks=chunks,
        sync_s=sync_s,
        raw_embed_s=raw_s,
        corpus_documents=corpus_docs,
        corpus_chunks=corpus_chunks,
        corpus_sync_s=corpus_s,
        resync_s=resync_s,
        resync_embedded=resync_embedded,
        other_worker_s=other_s,
        other_worker_embedded=other_embedded,
    )
