"""Sync speed through the worker's job path: `run_sync(context, JobRequest)`, the function the arq worker and
embedded mode run for a registered source.

1. Initial sync throughput (documents and chunks per second) of a files source with the bundled model behind
   a fresh cache, against the model's raw throughput on the very same chunk texts in the same run.
2. A corpus of many small synthetic documents (one short chunk each): its first sync with the bundled
   model (a fresh cache) as chunks/s against the model's raw chunks/s on a sample of the very same chunk
   texts in the same run; an unchanged re-sync as a fraction of the first; and, with two workers on one
   Redis (own data dirs and embedding caches, one index), the second worker's re-sync of the first's source.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from pydantic import BaseModel

from bench.common import bench_settings
from ingestion.parse_pool import ParsePool
from ingestion.source_jobs import WorkerContext, run_sync
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.factory import open_model
from knowledge.index.base import Index
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


class SyncSpeed(BaseModel):
    """Initial sync with the real model and its raw embedding; a large corpus synced twice."""

    documents: int
    chunks: int
    sync_s: float
    raw_embed_s: float
    corpus_documents: int
    corpus_chunks: int
    corpus_sync_s: float
    corpus_raw_chunks_per_s: float  # the model alone on a sample of the corpus's chunk texts
    resync_s: float
    resync_embedded: int  # texts the re-sync sent to the (stand-in) model: 0 when nothing was re-embedded
    other_worker_s: float  # the re-sync by a second worker (own data dir, shared Redis state and index)
    other_worker_embedded: int
    # the model's CPU seconds per chunk over the first sync's (parsing, writing and all): how much of the
    # machine the sync gives the model; unlike the ratio of rates, other load on the machine hardly moves it
    corpus_cpu_ratio: float

    @property
    def ratio(self) -> float:
        """Sync chunks/s over raw embedder chunks/s (1.0 = the sync costs only the embedding)."""
        return self.raw_embed_s / self.sync_s

    @property
    def corpus_ratio(self) -> float:
        """The corpus's first sync in chunks/s over the model's raw chunks/s on the same texts."""
        return (self.corpus_chunks / self.corpus_sync_s) / self.corpus_raw_chunks_per_s

    @property
    def resync_fraction(self) -> float:
        """Re-sync time of the unchanged large corpus as a fraction of its initial sync."""
        return self.resync_s / self.corpus_sync_s


def cpu_seconds() -> float:
    """CPU time (user and system) of this process and its ended children (the parser process)."""
    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


async def _noop_notify(user_id: str | None, text: str) -> None:
    return None


async def _timed_sync(kb: Knowledge, data_dir: Path, source: Source) -> tuple[float, SourceStatus, float]:
    """Register `source` and sync it once through `run_sync`; seconds, the status it recorded and the CPU
    seconds it took (this process and the parser's)."""
    registry = FileRegistry(data_dir / "sources.json")
    if await registry.get(source.id) is None:
        await registry.put(source)
    cpu = cpu_seconds()
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
    cpu = cpu_seconds() - cpu
    record = await registry.get(source.id)
    assert record is not None and record.status.ok, f"sync of {source.id} failed: {record}"
    return seconds, record.status, cpu


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
        seconds, status, _ = await _timed_sync(kb, data, source)
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


async def _fleet_kb(settings: Settings, index: Index | None = None) -> Knowledge:
    """The bundled model behind this data dir's own (fresh) embedding cache, over `index` (default: an
    embedded one in the data dir, also when the settings name a fleet)."""
    if index is None:
        index = EdgeIndex(settings.index_dir, settings.embedding_dim)
        await index.ensure()
    cache = EmbeddingCache(settings.data_dir / "embeddings.sqlite")
    return Knowledge(settings, index, CachedEmbedder(open_model(settings), cache))


async def raw_rate(settings: Settings, texts: list[str]) -> tuple[float, float]:
    """The model's own chunks/s on `texts` (after a warm-up batch), as the sync's lane runs it, and its CPU
    seconds per chunk."""
    model = open_model(settings)
    await model.embed_passages(texts[:16])
    cpu, started = cpu_seconds(), time.perf_counter()
    await model.embed_passages(texts)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    await model.close()
    return len(texts) / seconds, cpu / len(texts)


SAMPLE = 1000  # chunk texts the raw rate is measured on


# A fleet's settings keep the sync state in Redis; the index here is still one Qdrant Edge shard, opened once
# and handed to both workers (no Qdrant server binary exists here), so this URL is never reached.
FLEET_QDRANT = "http://qdrant.invalid:6333"


async def measure_resync(
    documents: int, workdir: Path, redis_url: str
) -> tuple[int, int, float, float, float, int, float, int, float]:
    """Sync a synthetic corpus with the bundled model as worker A, re-sync it unchanged as A, then as worker
    B (its own data dir and embedding cache, the same Redis state and index); the model's raw rate on a
    sample of the same chunk texts."""
    data = workdir / "corpus"
    folder = workdir / "corpus-files"
    synthetic_corpus(folder, documents)
    settings = bench_settings(data, redis_url=redis_url, qdrant_url=FLEET_QDRANT)
    source = Source(id="corpus", location=[str(folder)], access=["public"], every=0, added_by="cli")
    async with await _fleet_kb(settings) as kb:
        first_s, first, first_cpu = await _timed_sync(kb, data, source)
        embedded = kb.embedder.texts_embedded
        step = max(1, documents // SAMPLE)
        sample = []
        for n in range(0, documents, step):
            chunks = await kb.index.document_chunks("corpus", f"{n // 1000:02d}/doc-{n:05d}.md", ["public"])
            sample += [c.embedding_text() for c in chunks]
    raw, raw_cpu = await raw_rate(settings, sample)
    async with await _fleet_kb(settings) as kb:  # a fresh process's view: state, cache and index reopened
        second_s, second, _ = await _timed_sync(kb, data, source)
        resync_embedded = kb.embedder.texts_embedded
        other = bench_settings(workdir / "worker-b", redis_url=redis_url, qdrant_url=FLEET_QDRANT)
        b_kb = await _fleet_kb(other, kb.index)  # worker B: another data dir, the same index and Redis
        try:
            b_s, b_status, _ = await _timed_sync(b_kb, other.data_dir, source)
            b_embedded = b_kb.embedder.texts_embedded
        finally:
            b_kb.embedder.cache.close()
    assert first.added == documents and second.unchanged == documents == b_status.unchanged, (first, b_status)
    assert embedded >= first.chunks > 0 and sample
    cpu_ratio = raw_cpu / (first_cpu / first.chunks)
    return first.added, first.chunks, first_s, raw, second_s, resync_embedded, b_s, b_embedded, cpu_ratio


async def measure(files: list[Path], documents: int, workdir: Path, redis_url: str) -> SyncSpeed:
    """Both measures, with the bundled model: `files`, and `documents` synthetic ones (their sync state in
    the Redis at `redis_url`, as in a fleet)."""
    docs, chunks, sync_s, raw_s = await measure_pages(files, workdir)
    (
        corpus_docs,
        corpus_chunks,
        corpus_s,
        corpus_raw,
        resync_s,
        resync_embedded,
        other_s,
        other_embedded,
        cpu_ratio,
    ) = await measure_resync(documents, workdir, redis_url)
    return SyncSpeed(
        documents=docs,
        chunks=chunks,
        sync_s=sync_s,
        raw_embed_s=raw_s,
        corpus_documents=corpus_docs,
        corpus_chunks=corpus_chunks,
        corpus_sync_s=corpus_s,
        corpus_raw_chunks_per_s=corpus_raw,
        resync_s=resync_s,
        resync_embedded=resync_embedded,
        other_worker_s=other_s,
        other_worker_embedded=other_embedded,
        corpus_cpu_ratio=cpu_ratio,
    )
