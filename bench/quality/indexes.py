"""Lore's index of one corpus for the quality benchmark: built with the sync engine, reused between runs.

An index lives in `<work>/quality/<corpus>-<fingerprint>`; the fingerprint covers what decides its content
(the settings ingestion reads, the code that parses, chunks, encodes and stores, and the code that writes
the corpora), so a change of either
builds a new one and an unchanged input reuses the old one (the sync finds nothing to do). Every index of
a work dir shares one embedding cache, `<work>/embeddings.sqlite`: a chunk text is embedded once, whatever
the variant that meets it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.common import ingest
from bench.quality.cases import Corpus
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.factory import open_model
from knowledge.index.factory import open_index
from knowledge.service import Knowledge
from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# what ingestion reads of the settings, and the code that makes an index's content
INDEX_SETTINGS = (
    "chunk_size",
    "chunk_overlap",
    "cjk_tokenizer",
    "heading_weight",
    "bm25_k1",
    "bm25_b",
    "pair_weight",
    "embedding_model",
    "embedding_base_url",
    "embedding_dim",
)
INDEX_CODE = (
    "ingestion/parsing.py",
    "ingestion/tables.py",
    "ingestion/chunking.py",
    "ingestion/storing.py",
    "ingestion/sync.py",
    "knowledge/models.py",
    "knowledge/sparse.py",
    "knowledge/index",
    "bench/quality/cases.py",  # writes the corpora (domainrag's passages, their dates)
)


def fingerprint(settings: Settings) -> str:
    """A short hash of the index-making settings and code."""
    h = hashlib.sha256()
    named = {name: str(getattr(settings, name, None)) for name in INDEX_SETTINGS}
    h.update(json.dumps(named, sort_keys=True).encode())
    for entry in INDEX_CODE:
        path = ROOT / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(file.read_bytes())
    return h.hexdigest()[:12]


@asynccontextmanager
async def corpus_kb(work: Path, corpus: Corpus, settings: Settings) -> AsyncIterator[Knowledge]:
    """A knowledge base over `corpus` alone (source id = the corpus name), synced and optimised."""
    data_dir = work / "quality" / f"{corpus.name}-{fingerprint(settings)}"
    settings = settings.model_copy(update={"data_dir": data_dir})
    index = open_index(settings)
    await index.ensure()
    cache = EmbeddingCache(work / "embeddings.sqlite")
    kb = Knowledge(settings, index, CachedEmbedder(open_model(settings), cache))
    try:
        started = time.perf_counter()
        result = await ingest(kb, [corpus.folder], corpus.name, ["public"])
        seconds = time.perf_counter() - started
        print(
            f"  {corpus.name} index {data_dir.name}: {result.line()}; "
            f"{kb.embedder.texts_embedded} texts embedded; {seconds:.1f} s",
            file=sys.stderr,
        )
        yield kb
    finally:
        await kb.close()
