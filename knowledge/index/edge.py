"""The embedded backend: Lore's chunks in a Qdrant Edge shard on local disk.

Qdrant Edge's API is synchronous; every call runs in a worker thread (`asyncio.to_thread`). Writes take
one lock (one writer at a time); queries do not, since the engine serves reads while it writes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import qdrant_edge as qe

from knowledge.index.base import (
    DENSE,
    PAYLOAD_INDEXES,
    SPARSE,
    TEXT_KEY,
    ChunkRange,
    HybridQuery,
    IndexUnavailable,
)
from knowledge.index.common import (
    SCROLL_PAGE,
    by_chunk_count,
    check_document,
    chunk_of,
    payload,
    range_ids,
    text_key,
)
from knowledge.models import Chunk, IndexedChunk, ScoredChunk

T = TypeVar("T")

_SCHEMAS = {"keyword": qe.PayloadSchemaType.Keyword, "datetime": qe.PayloadSchemaType.Datetime}
_BYTES_PER_FLOAT = 4


class EdgeIndex:
    """An `Index` in a Qdrant Edge shard under `path`, created on first use and loaded after that.

    `indexing_threshold` is in points: once a segment holds more dense vectors than that, `optimize()`
    builds its HNSW graph (below it, search is a fast exact scan). Qdrant counts the threshold in KB of
    vector data; the conversion uses `dim`.
    """

    def __init__(self, path: Path, dim: int, *, indexing_threshold: int = 10_000) -> None:
        self._path = path
        self._dim = dim
        self._threshold_kb = max(1, math.ceil(indexing_threshold * dim * _BYTES_PER_FLOAT / 1024))
        self._shard: qe.EdgeShard | None = None
        self._write_lock = asyncio.Lock()

    async def ensure(self) -> None:
        """Open the shard (creating it and its payload indexes when new)."""
        if self._shard is not None:
            return
        async with self._write_lock:
            if self._shard is None:
                self._shard = await self._run("opening the index", self._open)

    async def replace_document(self, source_id: str, doc_id: str, chunks: list[IndexedChunk]) -> None:
        """Upsert the chunks first, then drop the document's chunks numbered past them (never a hole)."""
        await self.replace_documents(source_id, {doc_id: chunks})

    async def replace_documents(self, source_id: str, documents: dict[str, list[IndexedChunk]]) -> None:
        """Upsert every document's chunks in one write, then drop each one's chunks numbered past them."""
        for doc_id, chunks in documents.items():
            check_document(source_id, doc_id, chunks)
        points = [_point(c) for chunks in documents.values() for c in chunks]
        if points:
            await self._update(qe.UpdateOperation.upsert_points(points))
        if documents:
            await self._update(
                qe.UpdateOperation.delete_points_by_filter(_stale_filter(source_id, documents))
            )

    async def update_acl(self, source_id: str, doc_id: str, acl: list[str]) -> None:
        """Set a new acl on every chunk of a document, without touching vectors."""
        document = _document_filter(source_id, doc_id)
        await self._update(qe.UpdateOperation.set_payload_by_filter(document, {"acl": acl}))

    async def delete_document(self, source_id: str, doc_id: str) -> None:
        """Remove every chunk of a document."""
        await self._update(qe.UpdateOperation.delete_points_by_filter(_document_filter(source_id, doc_id)))

    async def delete_source(self, source_id: str) -> None:
        """Remove every chunk of a source."""
        await self._update(qe.UpdateOperation.delete_points_by_filter(_source_filter(source_id)))

    async def query(self, request: HybridQuery) -> list[ScoredChunk]:
        """Dense and sparse prefetch fused with weighted RRF (or one signal alone), filtered by acl."""
        built = _query_request(request)
        if built is None:
            return []
        shard = await self._opened()
        points = await self._run("querying", shard.query, built)
        return [ScoredChunk(chunk=chunk_of(p.payload), score=p.score) for p in points]

    async def document_chunks(self, source_id: str, doc_id: str, grants: list[str]) -> list[Chunk]:
        """The chunks of one document visible to `grants`, in order."""
        flt = _document_filter(source_id, doc_id, grants=grants)
        shard = await self._opened()
        records = await self._run("reading a document", _scroll_all, shard, flt)
        return sorted((chunk_of(r.payload) for r in records), key=lambda c: c.chunk_no)

    async def stored_vectors(
        self, source_id: str, doc_id: str | list[str], texts: list[str]
    ) -> dict[str, list[float]]:
        """The dense vectors stored for `texts`: in the document(s), or anywhere by the key of the text."""
        if not texts:
            return {}
        shard = await self._opened()
        same_text = qe.FieldCondition(key=TEXT_KEY, match=qe.MatchAny(any=[text_key(t) for t in texts]))
        flt = qe.Filter(should=[_documents_filter(source_id, doc_id), same_text])
        records = await self._run("reading stored vectors", _scroll_all, shard, flt, SCROLL_PAGE, True)
        wanted = set(texts)
        found: dict[str, list[float]] = {}
        for r in records:
            text = chunk_of(r.payload).embedding_text()
            if text in wanted and isinstance(r.vector, dict) and DENSE in r.vector:
                found[text] = [float(x) for x in cast(dict[str, Any], r.vector)[DENSE]]
        return found

    async def chunk_ranges(self, ranges: list[ChunkRange], grants: list[str]) -> list[Chunk]:
        """The chunks of `ranges` that `grants` may read: one scroll by point id, under the access filter."""
        ids = range_ids(ranges)
        if not ids or not grants:
            return []
        access = qe.FieldCondition(key="acl", match=qe.MatchAny(any=grants))
        flt = qe.Filter(must=[qe.HasIdCondition(set(ids)), access])
        shard = await self._opened()
        records = await self._run("reading neighbouring chunks", _scroll_all, shard, flt, len(ids))
        return [chunk_of(r.payload) for r in records]

    async def count(self, source_id: str | None = None, grants: list[str] | None = None) -> int:
        """Number of chunks, of one source or of all, only those `grants` may read when given (exact)."""
        sources = None if source_id is None else [source_id]
        flt: qe.Filter | None
        if grants is not None:
            flt = _access_filter(grants, sources)
        else:
            flt = None if source_id is None else _source_filter(source_id)
        shard = await self._opened()
        return await self._run("counting", shard.count, qe.CountRequest(exact=True, filter=flt))

    async def optimize(self) -> None:
        """Run the segment optimizers: builds HNSW once a segment passes the indexing threshold."""
        shard = await self._opened()
        async with self._write_lock:
            await self._run("optimizing", shard.optimize)

    async def info(self) -> qe.ShardInfo:
        """The engine's view of the shard: points, indexed vectors, payload schema."""
        shard = await self._opened()
        return await self._run("reading shard info", shard.info)

    async def close(self) -> None:
        """Flush to disk and release the shard (the next call opens it again)."""
        async with self._write_lock:
            shard, self._shard = self._shard, None
            if shard is not None:
                await self._run("closing", _flush_and_close, shard)

    def _open(self) -> qe.EdgeShard:
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=self._dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self._threshold_kb),
        )
        if _has_shard(self._path):
            shard = qe.EdgeShard.load(str(self._path), config)
        else:
            self._path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(self._path), config)
        present = shard.info().payload_schema
        for field, kind in PAYLOAD_INDEXES.items():
            if field not in present:
                shard.update(qe.UpdateOperation.create_field_index(field, _SCHEMAS[kind]))
        return shard

    async def _opened(self) -> qe.EdgeShard:
        await self.ensure()
        assert self._shard is not None
        return self._shard

    async def _update(self, operation: qe.UpdateOperation) -> None:
        shard = await self._opened()
        async with self._write_lock:
            await self._run("writing", shard.update, operation)

    async def _run(self, doing: str, call: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(call, *args)
        except Exception as err:  # the engine raises plain Exception for everything
            raise IndexUnavailable(
                f"Qdrant Edge index at {self._path} failed while {doing}: {err}. Check that the "
                "folder exists and is writable, that no other Lore process uses it, and that "
                "LORE_EMBEDDING_DIM matches the index (remove the folder and ingest again to rebuild it)."
            ) from err


def _has_shard(path: Path) -> bool:
    segments = path / "segments"
    return (path / "edge_config.json").exists() or (segments.is_dir() and any(segments.iterdir()))


def _flush_and_close(shard: qe.EdgeShard) -> None:
    shard.flush()
    shard.close()


def _scroll_all(
    shard: qe.EdgeShard, flt: qe.Filter, page_size: int = SCROLL_PAGE, dense: bool = False
) -> list[qe.Record]:
    records: list[qe.Record] = []
    offset: qe.PointId | None = None
    vectors = [DENSE] if dense else None
    while True:
        request = qe.ScrollRequest(
            offset=offset, limit=page_size, filter=flt, with_payload=True, with_vector=vectors
        )
        page, offset = shard.scroll(request)
        records.extend(page)
        if offset is None:
            return records


def _point(item: IndexedChunk) -> qe.Point:
    sparse = qe.SparseVector(indices=item.sparse.indices, values=item.sparse.values)
    return qe.Point(id=item.chunk.id, vector={DENSE: item.dense, SPARSE: sparse}, payload=payload(item.chunk))


def _query_request(request: HybridQuery) -> qe.QueryRequest | None:
    """The engine request: the access filter sits in every prefetch and in the fused query itself."""
    access = _access_filter(request.grants, request.source_ids)
    searches: list[qe.Query] = []
    if request.dense is not None:
        searches.append(qe.Query.Nearest(request.dense, using=DENSE))
    if request.sparse is not None and request.sparse.indices:
        sparse = qe.SparseVector(indices=request.sparse.indices, values=request.sparse.values)
        searches.append(qe.Query.Nearest(sparse, using=SPARSE))
    if not searches or request.source_ids == []:
        return None
    if len(searches) == 1:
        return qe.QueryRequest(limit=request.limit, query=searches[0], filter=access, with_payload=True)
    prefetches = [qe.Prefetch(limit=request.prefetch, query=s, filter=access) for s in searches]
    # the stub leaves the nested `Fusion.Rrf` out of the accepted query types; the engine takes it
    weights = [request.dense_weight, request.sparse_weight]
    fusion = cast(qe.Fusion, qe.Fusion.Rrf(k=request.rrf_k, weights=weights))
    return qe.QueryRequest(
        limit=request.limit, prefetches=prefetches, query=fusion, filter=access, with_payload=True
    )


def _access_filter(grants: list[str], source_ids: list[str] | None = None) -> qe.Filter:
    must: list[qe.ConditionType] = [qe.FieldCondition(key="acl", match=qe.MatchAny(any=grants))]
    if source_ids is not None:
        must.append(qe.FieldCondition(key="source_id", match=qe.MatchAny(any=source_ids)))
    return qe.Filter(must=must)


def _source_filter(source_id: str) -> qe.Filter:
    return qe.Filter(must=[qe.FieldCondition(key="source_id", match=qe.MatchValue(value=source_id))])


def _documents_filter(source_id: str, doc_ids: str | list[str]) -> qe.Filter:
    """The chunks of one document or of several of a source."""
    if isinstance(doc_ids, str):
        return _document_filter(source_id, doc_ids)
    same_source = qe.FieldCondition(key="source_id", match=qe.MatchValue(value=source_id))
    return qe.Filter(must=[same_source, qe.FieldCondition(key="doc_id", match=qe.MatchAny(any=doc_ids))])


def _stale_filter(source_id: str, documents: dict[str, list[IndexedChunk]]) -> qe.Filter:
    """The chunks of `documents` numbered past their new ones: one clause per chunk count."""
    clauses: list[qe.ConditionType] = [
        qe.Filter(
            must=[
                qe.FieldCondition(key="doc_id", match=qe.MatchAny(any=doc_ids)),
                qe.FieldCondition(key="chunk_no", range=qe.RangeFloat(gte=count)),
            ]
        )
        for count, doc_ids in sorted(by_chunk_count(documents).items())
    ]
    return qe.Filter(
        must=[qe.FieldCondition(key="source_id", match=qe.MatchValue(value=source_id))], should=clauses
    )


def _document_filter(source_id: str, doc_id: str, *, grants: list[str] | None = None) -> qe.Filter:
    must: list[qe.ConditionType] = [
        qe.FieldCondition(key="source_id", match=qe.MatchValue(value=source_id)),
        qe.FieldCondition(key="doc_id", match=qe.MatchValue(value=doc_id)),
    ]
    if grants is not None:
        must.append(qe.FieldCondition(key="acl", match=qe.MatchAny(any=grants)))
    return qe.Filter(must=must)
