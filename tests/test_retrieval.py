"""Fusion and diversification: pure functions over typed hits (windows: tests/test_windows.py)."""

from datetime import UTC, datetime

import pytest

from knowledge.models import Chunk, ScoredChunk
from knowledge.retrieval import diversify, weighted_rrf

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def hit(doc: str, no: int, score: float = 1.0, text: str | None = None) -> ScoredChunk:
    chunk = Chunk(
        source_id="s",
        doc_id=doc,
        chunk_no=no,
        title=doc,
        text=text or f"{doc}-{no}",
        updated_at=NOW,
        acl=["public"],
    )
    return ScoredChunk(chunk=chunk, score=score)


def ids(hits: list[ScoredChunk]) -> list[str]:
    return [f"{h.chunk.doc_id}-{h.chunk.chunk_no}" for h in hits]


@pytest.mark.parametrize(("dense_weight", "first"), [(1.0, "a-0"), (0.1, "b-0")])
def test_weighted_rrf_follows_the_heavier_signal(dense_weight: float, first: str) -> None:
    dense = [hit("a", 0), hit("c", 0), hit("b", 0)]
    sparse = [hit("b", 0), hit("a", 0), hit("c", 0)]
    fused = weighted_rrf([(dense, dense_weight), (sparse, 0.5)], k=2)
    assert ids(fused)[0] == first


def test_weighted_rrf_rewards_agreement() -> None:
    fused = weighted_rrf([([hit("a", 0), hit("b", 0)], 1.0), ([hit("c", 0), hit("b", 0)], 1.0)], k=2)
    assert ids(fused) == ["b-0", "a-0", "c-0"]
    assert fused[0].score == pytest.approx(2 / 4)


def test_diversify_caps_chunks_per_document() -> None:
    hits = [hit("a", i) for i in range(5)] + [hit("b", 0), hit("c", 0)]
    assert ids(diversify(hits, k=4, per_doc=2)) == ["a-0", "a-1", "b-0", "c-0"]
