"""Ingestion speed: chunks per second of the sync engine (`lore ingest`) against the embedder's raw
throughput on the very same chunk texts, in the same run; and a re-run on the unchanged corpus."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel

from bench.common import bench_settings, ingest
from knowledge.embedding.factory import open_model
from knowledge.service import Knowledge


class IngestSpeed(BaseModel):
    """One cold ingest, the raw embedding of its chunks, and one unchanged re-run."""

    documents: int
    chunks: int
    ingest_s: float
    raw_embed_s: float
    rerun_s: float

    @property
    def ratio(self) -> float:
        """Ingest chunks/s over raw embedder chunks/s (1.0 = ingestion costs only the embedding)."""
        return self.raw_embed_s / self.ingest_s

    @property
    def rerun_fraction(self) -> float:
        """Time of the unchanged re-run as a fraction of the first."""
        return self.rerun_s / self.ingest_s


async def measure(files: list[Path], workdir: Path) -> IngestSpeed:
    """Ingest `files` into a fresh data dir (cold cache), embed the same texts raw, then re-ingest."""
    settings = bench_settings(workdir / "data")
    async with await Knowledge.open(settings) as kb:
        first = await ingest(kb, files, "speed", ["public"])
        second = await ingest(kb, files, "speed", ["public"])
        texts = []
        for f in files:
            texts += [c.embedding_text() for c in await kb.index.document_chunks("speed", f.name, ["public"])]
    model = open_model(settings)
    started = time.perf_counter()
    await model.embed_passages(texts)
    raw = time.perf_counter() - started
    await model.close()
    assert len(texts) == first.chunks, "every chunk of the first run is read back"
    return IngestSpeed(
        documents=first.added,
        chunks=first.chunks,
        ingest_s=first.seconds,
        raw_embed_s=raw,
        rerun_s=second.seconds,
    )
