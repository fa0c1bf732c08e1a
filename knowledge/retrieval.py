"""Hybrid retrieval: dense and sparse candidates, each from a query under the principal's access filter, fused
with weighted RRF (a question that names a year adds a third ranking: the candidates dated in it); then
each hit widened into its context window (`knowledge.windows`: overlapping windows of one document joined)
and no document allowed to crowd out the rest."""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from knowledge.embedding.base import Embedder
from knowledge.index.base import HybridQuery, Index
from knowledge.models import ScoredChunk
from knowledge.settings import Settings
from knowledge.sparse import SparseEncoder
from knowledge.windows import reach, widen

Mode = Literal["hybrid", "dense", "sparse"]
_CANDIDATES = 4  # candidates fetched per result wanted, before diversification
_POOL = 2  # hits windowed per result wanted: some join others' windows
_DATED_DEPTH = 2  # times more candidates when the question names a year


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
        window_tokens: int | None = None,
    ) -> list[ScoredChunk]:
        """The best `k` (default `LORE_TOP_K`) hits for `query`, best first, each with its window of
        `window_tokens` (default `LORE_WINDOW_TOKENS`) to read; `merge=False`: the bare chunks, no windows."""
        k = k or self.settings.top_k
        query = query.strip()  # a trailing space moves the query's vector (cosine 0.988 to the stripped one)
        if not grants or not query:
            return []
        dense = await self.embedder.embed_query(query) if mode != "sparse" else None
        sparse = await asyncio.to_thread(self.sparse.encode_query, query) if mode != "dense" else None
        if sparse is not None and not sparse.indices:
            sparse = None
            if dense is None:
                return []
        depth = max(self.settings.prefetch, k * _CANDIDATES)
        years = named_years(query) if self.settings.date_weight else set()
        if years and mode == "hybrid":  # what it dates may rank low on words alone: look deeper
            depth *= _DATED_DEPTH
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
            rankings = [(by_dense, s.dense_weight), (by_sparse, s.sparse_weight)]
            hits = weighted_rrf(rankings, s.rrf_k)
            if years:  # a third ranking: the candidates dated in a year it names
                dated = [hit for hit in hits if hit.chunk.updated_at.year in years]
                hits = weighted_rrf([*rankings, (dated, s.date_weight)], s.rrf_k)
        per_doc = self.settings.max_chunks_per_doc
        if merge:  # window a wider pool: joined windows leave room for the next hits
            budget = self.settings.window_tokens if window_tokens is None else window_tokens
            overlap = self.settings.chunk_overlap
            around = reach(budget, self.settings.chunk_size, overlap)
            pool = diversify(hits, k * _POOL, per_doc * _POOL)
            return await widen(
                self.index, pool, grants, budget, around, k=k, per_doc=per_doc, overlap=overlap
            )
        return diversify(hits, k, per_doc)


_YEAR = re.compile(r"(?<![\d.,])(1[89]\d\d|20\d\d)(?!\d|[.,:]\d)")


def named_years(query: str) -> set[int]:
    """The years a question names ("in 2023", "2023年"): four digits from 1800 to 2099 standing alone (a
    date "2023-12-20" names 2023), not part of a longer number or an amount ("12,2000", "2000.50"). A
    document dated (`updated_at`) in one of them is what the question is likely about: a report, a notice
    or a page of that year."""
    return {int(year) for year in _YEAR.findall(query)}


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
