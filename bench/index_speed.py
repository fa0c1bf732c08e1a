"""Index speed on Qdrant Edge: a hybrid query with the acl filter against the same query without it.

Synthetic chunks (random unit vectors of dimension 384, ten random sparse terms, an acl drawn from 20 groups
with 10% public) are stored through `EdgeIndex`, HNSW is built, then the shard is queried directly by the
engine with and without the filter (median over many queries), and through Lore's `EdgeIndex.query`.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import qdrant_edge as qe
from pydantic import BaseModel

from knowledge.index.base import DENSE, SPARSE, HybridQuery
from knowledge.index.edge import EdgeIndex
from knowledge.models import Chunk, IndexedChunk, SparseVector

DIM = 384
GROUPS = 20
PER_DOC = 50


class IndexSpeed(BaseModel):
    """Median query times at one size."""

    chunks: int
    build_s: float
    hnsw_vectors: int
    filtered_ms: float
    unfiltered_ms: float
    api_filtered_ms: float

    @property
    def ratio(self) -> float:
        """Filtered over unfiltered median time."""
        return self.filtered_ms / self.unfiltered_ms


def unit_vectors(count: int, seed: int) -> npt.NDArray[np.float32]:
    """`count` random unit vectors of dimension `DIM` (float32), the same for the same seed."""
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _acl(rng: random.Random) -> list[str]:
    return ["public"] if rng.random() < 0.1 else [f"group:g{rng.randrange(GROUPS)}"]


def _sparse(rng: random.Random) -> SparseVector:
    terms = sorted(rng.sample(range(5000), 10))
    return SparseVector(indices=terms, values=[rng.uniform(0.5, 2.0) for _ in terms])


async def build(path: Path, chunks: int, seed: int = 7) -> tuple[float, int]:
    """Fill an Edge index with `chunks` synthetic chunks and build HNSW; (seconds, vectors in HNSW)."""
    rng = random.Random(seed)
    vectors = unit_vectors(chunks, seed)
    index = EdgeIndex(path, DIM)
    started = time.perf_counter()
    now = datetime.now(UTC)
    for start in range(0, chunks, PER_DOC):
        acl = _acl(rng)
        doc = f"doc{start // PER_DOC}.md"
        items = [
            IndexedChunk(
                chunk=Chunk(
                    source_id="bench",
                    doc_id=doc,
                    chunk_no=i,
                    title=doc,
                    text=f"chunk {start + i}",
                    updated_at=now,
                    acl=acl,
                ),
                dense=vectors[start + i].tolist(),
                sparse=_sparse(rng),
            )
            for i in range(min(PER_DOC, chunks - start))
        ]
        await index.replace_document("bench", doc, items)
    await index.optimize()
    indexed = (await index.info()).indexed_vectors_count
    await index.close()
    return time.perf_counter() - started, indexed


def _engine_query(dense: list[float], sparse: SparseVector, grants: list[str] | None) -> qe.QueryRequest:
    flt = (
        None
        if grants is None
        else qe.Filter(must=[qe.FieldCondition(key="acl", match=qe.MatchAny(any=grants))])
    )
    searches = [
        qe.Query.Nearest(dense, using=DENSE),
        qe.Query.Nearest(qe.SparseVector(indices=sparse.indices, values=sparse.values), using=SPARSE),
    ]
    return qe.QueryRequest(
        limit=10,
        prefetches=[qe.Prefetch(limit=40, query=s, filter=flt) for s in searches],
        query=cast(qe.Fusion, qe.Fusion.Rrf(k=60, weights=[1.0, 1.0])),  # the stub omits Rrf
        filter=flt,
        with_payload=True,
    )


async def measure(path: Path, chunks: int, queries: int = 200) -> IndexSpeed:
    """Build the index at `path` and time filtered and unfiltered hybrid queries."""
    build_s, indexed = await build(path, chunks)
    rng = random.Random(11)
    probes = unit_vectors(queries, 11)
    grants = ["public", "group:g3", "group:g7"]  # about 19% of the chunks
    sparse = [_sparse(rng) for _ in range(queries)]
    shard = qe.EdgeShard.load(str(path), None)
    times: dict[str, list[float]] = {"filtered": [], "unfiltered": []}
    for i in range(queries):
        for name, g in (("filtered", grants), ("unfiltered", None)):
            request = _engine_query(probes[i].tolist(), sparse[i], g)
            started = time.perf_counter()
            shard.query(request)
            times[name].append(time.perf_counter() - started)
    shard.close()
    index = EdgeIndex(path, DIM)
    api = []
    for i in range(queries):
        started = time.perf_counter()
        await index.query(HybridQuery(grants=grants, dense=probes[i].tolist(), sparse=sparse[i], limit=10))
        api.append(time.perf_counter() - started)
    await index.close()
    return IndexSpeed(
        chunks=chunks,
        build_s=build_s,
        hnsw_vectors=indexed,
        filtered_ms=statistics.median(times["filtered"]) * 1000,
        unfiltered_ms=statistics.median(times["unfiltered"]) * 1000,
        api_filtered_ms=statistics.median(api) * 1000,
    )
