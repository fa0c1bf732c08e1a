"""Both index backends against one set of tests: Qdrant Edge on disk, qdrant-client's local mode."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient

from knowledge.index.base import PAYLOAD_INDEXES, ChunkRange, HybridQuery, Index, IndexUnavailable
from knowledge.index.edge import EdgeIndex
from knowledge.index.factory import open_index
from knowledge.index.server import ServerIndex
from knowledge.models import Chunk, IndexedChunk, SparseVector
from knowledge.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

DIM = 8
MODES = ["dense", "sparse", "hybrid"]


def axis(*weights: float) -> list[float]:
    """A dense vector from its first few components, zero-padded to DIM."""
    return [*weights, *[0.0] * (DIM - len(weights))]


def sparse(terms: dict[int, float]) -> SparseVector:
    return SparseVector(indices=list(terms), values=list(terms.values()))


def chunks(
    doc_id: str,
    n: int = 1,
    *,
    source_id: str = "wiki",
    acl: tuple[str, ...] = ("public",),
    dense: list[float] | None = None,
    terms: dict[int, float] | None = None,
    text: str = "text",
) -> list[IndexedChunk]:
    return [
        IndexedChunk(
            chunk=Chunk(
                source_id=source_id,
                doc_id=doc_id,
                chunk_no=i,
                title=doc_id,
                text=f"{text} {i}",
                updated_at=datetime(2024, 1, 1, tzinfo=UTC),
                acl=list(acl),
            ),
            dense=dense or axis(1.0, 0.1 * i + 0.1),
            sparse=sparse(terms or {100 + i: 1.0}),
        )
        for i in range(n)
    ]


def ask(grants: list[str], mode: str = "hybrid", **kwargs: Any) -> HybridQuery:
    """A query for axis 0 and terms 1 and 2, using one signal or both."""
    dense = axis(1.0) if mode in ("dense", "hybrid") else None
    terms = sparse({1: 1.0, 2: 1.0}) if mode in ("sparse", "hybrid") else None
    return HybridQuery(grants=grants, dense=dense, sparse=terms, **kwargs)


async def doc_ids(index: Index, request: HybridQuery) -> list[str]:
    return [hit.chunk.doc_id for hit in await index.query(request)]


@pytest.fixture(params=["edge", "server"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Index]:
    store: Index
    if request.param == "edge":
        store = EdgeIndex(tmp_path / "index", DIM, indexing_threshold=100)
    else:
        store = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", DIM)
    await store.ensure()
    yield store
    await store.close()


@pytest.fixture
async def acl_corpus(index: Index) -> Index:
    """A finance document that best matches `ask(...)` in both signals, and weaker public and eng ones."""
    await index.replace_document(
        "wiki", "secret", chunks("secret", acl=("group:finance",), dense=axis(1.0), terms={1: 1.0, 2: 1.0})
    )
    await index.replace_document("wiki", "open", chunks("open", dense=axis(1.0, 1.0), terms={1: 0.5}))
    await index.replace_document(
        "wiki", "eng", chunks("eng", acl=("group:eng",), dense=axis(1.0, 0.0, 1.0), terms={2: 0.5})
    )
    return index


async def test_replace_shrinks_a_document(index: Index) -> None:
    await index.replace_document("wiki", "a", chunks("a", 5, text="old"))
    await index.replace_document("wiki", "a", chunks("a", 2, text="new"))
    assert await index.count() == 2
    stored = await index.document_chunks("wiki", "a", ["public"])
    assert [(c.chunk_no, c.text) for c in stored] == [(0, "new 0"), (1, "new 1")]


async def test_replacing_several_documents_at_once_shrinks_each_and_spares_the_rest(index: Index) -> None:
    for doc_id, n in (("a", 5), ("b", 3), ("c", 2), ("d", 2)):
        await index.replace_document("wiki", doc_id, chunks(doc_id, n, text="old"))
    await index.replace_document("other", "a", chunks("a", 4, source_id="other"))
    await index.replace_documents(
        "wiki", {"a": chunks("a", 2, text="new"), "b": chunks("b", 4, text="new"), "c": []}
    )
    assert [c.text for c in await index.document_chunks("wiki", "a", ["public"])] == ["new 0", "new 1"]
    assert [c.text for c in await index.document_chunks("wiki", "b", ["public"])] == [
        f"new {i}" for i in range(4)
    ]
    assert await index.document_chunks("wiki", "c", ["public"]) == []
    assert len(await index.document_chunks("wiki", "d", ["public"])) == 2  # not in the call: untouched
    assert await index.count("other") == 4  # the same document id in another source: untouched
    with pytest.raises(ValueError):
        await index.replace_documents("wiki", {"a": chunks("a", 1), "b": chunks("a", 1)})


async def test_replace_with_no_chunks_deletes(index: Index) -> None:
    await index.replace_document("wiki", "a", chunks("a", 3))
    await index.replace_document("wiki", "a", [])
    assert await index.count() == 0


async def test_replace_refuses_foreign_or_gapped_chunks(index: Index) -> None:
    with pytest.raises(ValueError):
        await index.replace_document("wiki", "b", chunks("a", 2))
    with pytest.raises(ValueError):
        await index.replace_document("wiki", "a", chunks("a", 3)[1:])


async def test_payload_round_trips(index: Index) -> None:
    [item] = chunks("a", acl=("group:eng", "public"))
    await index.replace_document("wiki", "a", [item])
    assert await index.document_chunks("wiki", "a", ["public"]) == [item.chunk]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("grants", [["public"], ["group:eng"], ["public", "group:eng"]])
async def test_acl_hides_the_best_match(acl_corpus: Index, mode: str, grants: list[str]) -> None:
    found = await doc_ids(acl_corpus, ask(grants, mode, limit=50, prefetch=50))
    assert found
    assert "secret" not in found


@pytest.mark.parametrize("mode", MODES)
async def test_acl_grants_the_best_match(acl_corpus: Index, mode: str) -> None:
    assert (await doc_ids(acl_corpus, ask(["group:finance"], mode)))[0] == "secret"


async def test_update_acl_changes_visibility_not_vectors(index: Index) -> None:
    await index.replace_document("wiki", "pay", chunks("pay", acl=("group:hr",), dense=axis(1.0, 1.0)))
    [before] = await index.query(ask(["group:hr"], "dense"))
    assert await index.query(ask(["group:finance"], "dense")) == []
    await index.update_acl("wiki", "pay", ["group:finance"])
    [after] = await index.query(ask(["group:finance"], "dense"))
    assert after.chunk.acl == ["group:finance"]
    assert after.score == pytest.approx(before.score)
    assert await index.query(ask(["group:hr"], "dense")) == []


async def test_delete_document(index: Index) -> None:
    await index.replace_document("wiki", "a", chunks("a", 3))
    await index.replace_document("wiki", "b", chunks("b", 2))
    await index.delete_document("wiki", "a")
    assert await index.count() == 2
    assert await index.document_chunks("wiki", "a", ["public"]) == []


async def test_delete_source_leaves_other_sources(index: Index) -> None:
    await index.replace_document("wiki", "a", chunks("a", 3))
    await index.replace_document("share", "a", chunks("a", 2, source_id="share"))
    assert (await index.count("wiki"), await index.count("share"), await index.count()) == (3, 2, 5)
    await index.delete_source("wiki")
    assert (await index.count("wiki"), await index.count("share"), await index.count()) == (0, 2, 2)


async def test_count_of_what_grants_may_read(index: Index) -> None:
    await index.replace_document("share", "a", chunks("a", 2, source_id="share", acl=("group:finance",)))
    await index.replace_document("share", "b", chunks("b", 1, source_id="share"))
    await index.replace_document("wiki", "c", chunks("c", 3, acl=("group:finance",)))
    assert await index.count("share", grants=["public"]) == 1
    assert await index.count("share", grants=["public", "group:finance"]) == 3
    assert await index.count(grants=["group:finance"]) == 5
    assert await index.count("share", grants=["group:hr"]) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_source_ids_filter(index: Index, mode: str) -> None:
    for source in ("wiki", "share"):
        await index.replace_document(source, source, chunks(source, source_id=source, terms={1: 1.0}))
    assert await doc_ids(index, ask(["public"], mode, source_ids=["share"])) == ["share"]
    assert await doc_ids(index, ask(["public"], mode, source_ids=[])) == []


async def test_hybrid_ranks_the_double_winner_first(index: Index) -> None:
    await index.replace_document("wiki", "both", chunks("both", dense=axis(1.0, 0.2), terms={1: 1.0, 2: 1.0}))
    await index.replace_document("wiki", "dense", chunks("dense", dense=axis(1.0, 0.3), terms={9: 1.0}))
    await index.replace_document("wiki", "sparse", chunks("sparse", dense=axis(0.0, 1.0), terms={1: 1.0}))
    await index.replace_document("wiki", "noise", chunks("noise", dense=axis(0.0, 0.0, 1.0), terms={8: 1.0}))
    found = await doc_ids(index, ask(["public"], limit=3))
    assert found[0] == "both"
    assert len(found) == 3


@pytest.mark.parametrize(
    ("weights", "winner"),
    [((1.0, 0.0), "dense"), ((0.0, 1.0), "sparse"), ((1.0, 1e-4), "dense"), ((1e-4, 1.0), "sparse")],
)
async def test_weighted_fusion_follows_the_heavier_signal(
    index: Index, weights: tuple[float, float], winner: str
) -> None:
    # "dense" is first by dense and second by sparse; "sparse" the other way round
    await index.replace_document("wiki", "dense", chunks("dense", dense=axis(1.0), terms={1: 0.5}))
    await index.replace_document("wiki", "sparse", chunks("sparse", dense=axis(1.0, 1.0), terms={1: 1.0}))
    request = ask(["public"], dense_weight=weights[0], sparse_weight=weights[1])
    assert (await doc_ids(index, request))[0] == winner


async def test_fused_score_is_qdrant_weighted_rrf(index: Index) -> None:
    # Qdrant scores rank r (0-based) of a signal with weight w as 1 / ((r + 1) / w + k - 1). With k = 60 a
    # weight mostly flattens that signal's rank differences: weights (3, 1) put the sparse winner first.
    await index.replace_document("wiki", "dense", chunks("dense", dense=axis(1.0), terms={1: 0.5}))
    await index.replace_document("wiki", "sparse", chunks("sparse", dense=axis(1.0, 1.0), terms={1: 1.0}))
    hits = await index.query(ask(["public"], dense_weight=3.0, sparse_weight=1.0, rrf_k=60))
    assert [h.chunk.doc_id for h in hits] == ["sparse", "dense"]
    assert hits[0].score == pytest.approx(1 / 60 + 1 / (2 / 3 + 59), rel=1e-5)


async def test_document_chunks_in_order_and_filtered(index: Index) -> None:
    items = chunks("a", 4, acl=("group:eng",))
    await index.replace_document("wiki", "a", items[::-1])
    assert [c.chunk_no for c in await index.document_chunks("wiki", "a", ["group:eng"])] == [0, 1, 2, 3]
    assert await index.document_chunks("wiki", "a", ["public"]) == []


async def test_chunk_ranges_are_read_under_the_access_filter(index: Index) -> None:
    items = chunks("a", 6)
    for item in items[2:4]:  # one document, chunks of two acls
        item.chunk.acl = ["group:finance"]
    await index.replace_document("wiki", "a", items)
    await index.replace_document("wiki", "b", chunks("b", 3))
    ranges = [ChunkRange(source_id="wiki", doc_id="a", first=1, last=4)]
    ranges.append(ChunkRange(source_id="wiki", doc_id="b", first=2, last=9))  # past the end: what exists

    def numbers(found: list[Chunk]) -> list[tuple[str, int]]:
        return sorted((c.doc_id, c.chunk_no) for c in found)

    public = await index.chunk_ranges(ranges, ["public"])
    assert numbers(public) == [("a", 1), ("a", 4), ("b", 2)]
    assert numbers(await index.chunk_ranges(ranges, ["group:finance"])) == [("a", 2), ("a", 3)]
    both = await index.chunk_ranges(ranges, ["public", "group:finance"])
    assert numbers(both) == [("a", 1), ("a", 2), ("a", 3), ("a", 4), ("b", 2)]
    assert next(c for c in both if c.chunk_no == 3) == items[3].chunk
    assert await index.chunk_ranges([], ["public"]) == []


async def test_query_without_vectors_finds_nothing(index: Index) -> None:
    await index.replace_document("wiki", "a", chunks("a"))
    assert await index.query(HybridQuery(grants=["public"], sparse=SparseVector(indices=[], values=[]))) == []


async def test_edge_reopens_from_disk(tmp_path: Path) -> None:
    first = EdgeIndex(tmp_path / "index", DIM)
    await first.replace_document("wiki", "a", chunks("a", 3))
    await first.close()
    again = EdgeIndex(tmp_path / "index", DIM)
    assert await again.count() == 3
    assert len(await again.document_chunks("wiki", "a", ["public"])) == 3
    await again.close()


async def test_edge_optimize_builds_hnsw_and_payload_indexes(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path / "index", DIM, indexing_threshold=100)
    rng = random.Random(7)
    items = chunks("big", 300)
    for item in items:
        item.dense = [rng.uniform(-1, 1) for _ in range(DIM)]
    await index.replace_document("wiki", "big", items)
    before = (await index.info()).indexed_vectors_count
    await index.optimize()
    info = await index.info()
    # sparse vectors count as indexed from the start; HNSW adds the 300 dense ones
    assert before <= 300 < info.indexed_vectors_count
    assert set(PAYLOAD_INDEXES) <= set(info.payload_schema)
    assert len(await index.query(HybridQuery(grants=["public"], dense=items[0].dense, limit=5))) == 5
    await index.close()


async def test_edge_dimension_mismatch_is_unavailable(tmp_path: Path) -> None:
    first = EdgeIndex(tmp_path / "index", DIM)
    await first.ensure()
    await first.close()
    with pytest.raises(IndexUnavailable, match="LORE_EMBEDDING_DIM"):
        await EdgeIndex(tmp_path / "index", 4).ensure()


async def test_edge_unusable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(IndexUnavailable, match="writable"):
        await EdgeIndex(tmp_path / "file", DIM).ensure()


class RecordingClient(AsyncQdrantClient):
    """Local-mode client that remembers the payload indexes asked for (local mode keeps no schema)."""

    def __init__(self) -> None:
        super().__init__(location=":memory:")
        self.indexed: dict[str, Any] = {}

    async def create_payload_index(
        self, collection_name: str, field_name: str, field_schema: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        self.indexed[field_name] = field_schema
        return await super().create_payload_index(collection_name, field_name, field_schema, *args, **kwargs)


async def test_server_creates_schema() -> None:
    client = RecordingClient()
    index = ServerIndex(client, "lore", DIM)
    await index.ensure()
    info = await client.get_collection("lore")
    assert isinstance(info.config.params.vectors, dict)
    assert info.config.params.vectors["dense"].size == DIM
    assert info.config.params.sparse_vectors and info.config.params.sparse_vectors["sparse"].modifier == "idf"
    assert {field: str(schema.value) for field, schema in client.indexed.items()} == PAYLOAD_INDEXES
    await index.close()


async def test_server_dimension_mismatch_is_unavailable() -> None:
    client = AsyncQdrantClient(location=":memory:")
    await ServerIndex(client, "lore", DIM).ensure()
    with pytest.raises(IndexUnavailable, match="LORE_EMBEDDING_DIM") as caught:
        await ServerIndex(client, "lore", 4).ensure()
    assert caught.value.retryable is False


async def test_server_unreachable_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    index = ServerIndex(
        AsyncQdrantClient(url=f"http://127.0.0.1:{port}", timeout=2, check_compatibility=False), "lore", DIM
    )
    with pytest.raises(IndexUnavailable, match="LORE_QDRANT_URL") as caught:
        await index.count()
    assert caught.value.retryable is True


async def test_factory_picks_the_backend(tmp_path: Path) -> None:
    base: dict[str, Any] = {"_env_file": None, "data_dir": tmp_path, "embedding_dim": DIM}
    embedded = open_index(Settings(**base))
    assert isinstance(embedded, EdgeIndex)
    server = open_index(Settings(**base, qdrant_url="http://127.0.0.1:6333"))
    assert isinstance(server, ServerIndex)
    await server.close()
