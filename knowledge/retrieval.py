"""Hybrid retrieval: dense and sparse candidates fused with weighted RRF inside the index, under the
principal's access filter; then neighbouring chunks merged and no document allowed to crowd out the rest."""

from __future__ import annotations

import asyncio
from typing import Literal

from knowledge.embedding.base import Embedder
from knowledge.index.base import HybridQuery, Index
from knowledge.models import ScoredChunk
from knowledge.settings import Settings
from knowledge.sparse import SparseEncoder

Mode = Literal["hybrid", "dense", "sparse"]
_CANDIDATES = 4  # candidates fetched per result wanted, before diversification


class Retriever:
    """Finds the chunks that answer a query, among those `grants` may read."""

    def __init__(self, index: Index, embedder: Embedder, sparse: SparseEncoder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.settings = settings

    async def search(
        self,
        query: str,
        grants: list[str],
        *,
        k: int | None = None,
        mode: Mode = "hybrid",
        source_ids: list[str] | None = None,
        merge: bool = True,
    ) -> list[ScoredChunk]:
        """The best `k` (default `LORE_TOP_K`) chunks for `query`, best first."""
        k = k or self.settings.top_k
        if not grants or not query.strip():
            return []
        dense = await self.embedder.embed_query(query) if mode != "sparse" else None
        sparse = await asyncio.to_thread(self.sparse.encode_query, query) if mode != "dense" else None
        if sparse is not None and not sparse.indices:
            sparse = None
            if dense is None:
                return []
        depth = max(self.settings.prefetch, k * _CANDIDATES)
        if dense is None or sparse is None:  # one signal: one filtered nearest query
            hits = await self.index.query(
                HybridQuery(grants=grants, dense=dense, sparse=sparse, limit=depth, source_ids=source_ids)
            )
            if dense is not None:
                hits = [hit.model_copy(update={"similarity": hit.score}) for hit in hits]
        else:  # two filtered queries, fused here (see `weighted_rrf` for why not in the engine)
            by_dense, by_sparse = await asyncio.gather(
                self.index.query(HybridQuery(grants=grants, dense=dense, limit=depth, source_ids=source_ids)),
                self.index.query(
                    HybridQuery(grants=grants, sparse=sparse, limit=depth, source_ids=source_ids)
                ),
            )
            s = self.settings
            by_dense = [hit.model_copy(update={"similarity": hit.score}) for hit in by_dense]
            hits = weighted_rrf([(by_dense, s.dense_weight), (by_sparse, s.sparse_weight)], s.rrf_k)
        if merge:
            hits = merge_neighbours(hits)
        return diversify(hits, k, self.settings.max_chunks_per_doc)


def weighted_rrf(rankings: list[tuple[list[ScoredChunk], float]], k: int) -> list[ScoredChunk]:
    """Reciprocal rank fusion with weights: score = sum of weight / (k + rank), rank from 1.

    Qdrant's own weighted RRF divides the rank by the weight instead (score 1 / ((rank + 1) / w + k - 1)),
    so at a usual k a larger weight makes that signal's rank matter *less*; measured on the handbook, this
    textbook form with a small k is what lets the hybrid beat BM25 alone (docs/benchmarks.md).
    """
    scores: dict[str, float] = {}
    chunks: dict[str, ScoredChunk] = {}
    for ranking, weight in rankings:
        for rank, hit in enumerate(ranking, 1):
            key = hit.chunk.id
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            chunks.setdefault(key, hit)
    similarity = {h.chunk.id: h.similarity for r, _ in rankings for h in r if h.similarity is not None}
    order = sorted(scores, key=lambda key: -scores[key])
    return [
        ScoredChunk(chunk=chunks[key].chunk, score=scores[key], similarity=similarity.get(key))
        for key in order
    ]


def diversify(hits: list[ScoredChunk], k: int, per_doc: int) -> list[ScoredChunk]:
    """The first `k` hits, taking at most `per_doc` from any one document (order kept)."""
    taken: dict[tuple[str, str], int] = {}
    out: list[ScoredChunk] = []
    for hit in hits:
        key = (hit.chunk.source_id, hit.chunk.doc_id)
        if taken.get(key, 0) >= per_doc:
            continue
        taken[key] = taken.get(key, 0) + 1
        out.append(hit)
        if len(out) == k:
            break
    return out


def merge_neighbours(hits: list[ScoredChunk]) -> list[ScoredChunk]:
    """Join hits that are consecutive chunks of one document into one hit at the better rank.

    The joined text drops the overlap the chunker repeated between the two, and keeps the first chunk's id.
    """
    position: dict[tuple[str, str, int], int] = {}
    merged: list[ScoredChunk | None] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        c = hit.chunk
        before = position.get((c.source_id, c.doc_id, c.chunk_no - 1))
        after = position.get((c.source_id, c.doc_id, c.chunk_no + 1))
        slot = before if before is not None else after
        if slot is None:
            position[(c.source_id, c.doc_id, c.chunk_no)] = len(merged)
            merged.append(hit)
            continue
        kept = merged[slot]
        assert kept is not None
        first, second = (kept.chunk, c) if slot == before else (c, kept.chunk)
        text = join_overlapping(first.text, second.text)
        chunk = first.model_copy(update={"text": text})
        merged[slot] = ScoredChunk(chunk=chunk, score=kept.score, similarity=kept.similarity)
        position[(c.source_id, c.doc_id, c.chunk_no)] = slot
    return [h for h in merged if h is not None]


def join_overlapping(first: str, second: str, longest: int = 2000) -> str:
    """`first` + `second` without the text that ends one and starts the other."""
    for size in range(min(len(first), len(second), longest), 15, -1):
        if first.endswith(second[:size]):
            return first + second[size:]
    return f"{first}\n{second}"
