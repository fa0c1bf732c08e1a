"""The server backend: Lore's chunks in a collection of a Qdrant server (or qdrant-client's local mode)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ApiException

from knowledge.index.base import DENSE, SPARSE, TEXT_KEY, ChunkRange, HybridQuery, IndexUnavailable
from knowledge.index.collections import Collections
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

# what the client raises when the server is unreachable, refuses a request, or (local mode) is misused
_ENGINE_ERRORS = (ApiException, httpx.HTTPError, OSError, ValueError)


class ServerIndex:
    """An `Index` in one collection of a Qdrant server, usually an alias (`knowledge.index.collections`);
    a physical collection behind that alias is created on first use."""

    def __init__(self, client: AsyncQdrantClient, collection: str, dim: int, replication: int = 1) -> None:
        self._client = client
        self._collection = collection
        self._dim = dim
        self._replication = replication
        self._ready = False
        self._ensure_lock = asyncio.Lock()
        options = getattr(client, "init_options", {})
        self._where = str(
            options.get("url")
            or options.get("host")
            or options.get("path")
            or options.get("location")
            or "the configured URL"
        )

    async def ensure(self) -> None:
        """Create the collection, its vectors and payload indexes if missing."""
        if self._ready:
            return
        async with self._ensure_lock:
            if not self._ready:
                await self._guard("preparing the collection", self._create())
                self._ready = True

    async def replace_document(self, source_id: str, doc_id: str, chunks: list[IndexedChunk]) -> None:
        """Upsert the chunks first, then drop the document's chunks numbered past them (never a hole)."""
        await self.replace_documents(source_id, {doc_id: chunks})

    async def replace_documents(self, source_id: str, documents: dict[str, list[IndexedChunk]]) -> None:
        """Upsert every document's chunks in one request, then drop each one's chunks numbered past them."""
        for doc_id, chunks in documents.items():
            check_document(source_id, doc_id, chunks)
        await self.ensure()
        points = [_point(c) for chunks in documents.values() for c in chunks]
        if points:
            await self._guard("writing", self._client.upsert(self._collection, points=points, wait=True))
        if documents:
            await self._delete(_stale_filter(source_id, documents))

    async def update_acl(self, source_id: str, doc_id: str, acl: list[str]) -> None:
        """Set a new acl on every chunk of a document, without touching vectors."""
        await self.ensure()
        selector = models.FilterSelector(filter=_document_filter(source_id, doc_id))
        await self._guard(
            "writing",
            self._client.set_payload(self._collection, payload={"acl": acl}, points=selector, wait=True),
        )

    async def delete_document(self, source_id: str, doc_id: str) -> None:
        """Remove every chunk of a document."""
        await self.ensure()
        await self._delete(_document_filter(source_id, doc_id))

    async def delete_source(self, source_id: str) -> None:
        """Remove every chunk of a source."""
        await self.ensure()
        await self._delete(_source_filter(source_id))

    async def query(self, request: HybridQuery) -> list[ScoredChunk]:
        """Dense and sparse prefetch fused with weighted RRF (or one signal alone), filtered by acl."""
        searches: list[tuple[str, list[float] | models.SparseVector]] = []
        if request.dense is not None:
            searches.append((DENSE, request.dense))
        if request.sparse is not None and request.sparse.indices:
            searches.append(
                (SPARSE, models.SparseVector(indices=request.sparse.indices, values=request.sparse.values))
            )
        if not searches or request.source_ids == []:
            return []
        await self.ensure()
        access = _access_filter(request.grants, request.source_ids)
        if len(searches) == 1:
            using, vector = searches[0]
            call = self._client.query_points(
                self._collection,
                query=vector,
                using=using,
                query_filter=access,
                limit=request.limit,
                with_payload=True,
            )
        else:
            prefetch = [
                models.Prefetch(query=vector, using=using, filter=access, limit=request.prefetch)
                for using, vector in searches
            ]
            rrf = models.Rrf(k=request.rrf_k, weights=[request.dense_weight, request.sparse_weight])
            call = self._client.query_points(
                self._collection,
                prefetch=prefetch,
                query=models.RrfQuery(rrf=rrf),
                query_filter=access,
                limit=request.limit,
                with_payload=True,
            )
        response = await self._guard("querying", call)
        return [ScoredChunk(chunk=chunk_of(p.payload), score=p.score) for p in response.points]

    async def document_chunks(self, source_id: str, doc_id: str, grants: list[str]) -> list[Chunk]:
        """The chunks of one document visible to `grants`, in order."""
        await self.ensure()
        flt = _document_filter(source_id, doc_id, grants=grants)
        chunks: list[Chunk] = []
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = await self._guard(
                "reading a document",
                self._client.scroll(
                    self._collection, scroll_filter=flt, limit=SCROLL_PAGE, offset=offset, with_payload=True
                ),
            )
            chunks.extend(chunk_of(record.payload) for record in page)
            if offset is None:
                return sorted(chunks, key=lambda c: c.chunk_no)

    async def stored_vectors(
        self, source_id: str, doc_id: str | list[str], texts: list[str]
    ) -> dict[str, list[float]]:
        """The dense vectors stored for `texts`: in the document(s), or anywhere by the key of the text."""
        if not texts:
            return {}
        await self.ensure()
        same_text = models.FieldCondition(
            key=TEXT_KEY, match=models.MatchAny(any=[text_key(t) for t in texts])
        )
        flt = models.Filter(should=[_documents_filter(source_id, doc_id), same_text])
        wanted = set(texts)
        found: dict[str, list[float]] = {}
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = await self._guard(
                "reading stored vectors",
                self._client.scroll(
                    self._collection,
                    scroll_filter=flt,
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=True,
                    with_vectors=[DENSE],
                ),
            )
            for record in page:
                vector = record.vector.get(DENSE) if isinstance(record.vector, dict) else None
                text = chunk_of(record.payload).embedding_text()
                if text in wanted and isinstance(vector, list) and vector and isinstance(vector[0], float):
                    found[text] = [float(x) for x in vector]
            if offset is None:
                return found

    async def chunk_ranges(self, ranges: list[ChunkRange], grants: list[str]) -> list[Chunk]:
        """The chunks of `ranges` that `grants` may read: one scroll by point id, under the access filter."""
        ids: list[models.ExtendedPointId] = list(range_ids(ranges))
        if not ids or not grants:
            return []
        await self.ensure()
        access = models.FieldCondition(key="acl", match=models.MatchAny(any=grants))
        flt = models.Filter(must=[models.HasIdCondition(has_id=ids), access])
        page, _ = await self._guard(
            "reading neighbouring chunks",
            self._client.scroll(self._collection, scroll_filter=flt, limit=len(ids), with_payload=True),
        )
        return [chunk_of(record.payload) for record in page]

    async def count(self, source_id: str | None = None, grants: list[str] | None = None) -> int:
        """Number of chunks, of one source or of all, only those `grants` may read when given (exact)."""
        await self.ensure()
        sources = None if source_id is None else [source_id]
        flt: models.Filter | None
        if grants is not None:
            flt = _access_filter(grants, sources)
        else:
            flt = None if source_id is None else _source_filter(source_id)
        result = await self._guard(
            "counting", self._client.count(self._collection, count_filter=flt, exact=True)
        )
        return result.count

    async def optimize(self) -> None:
        """Nothing to do: the server's optimizers build HNSW on their own."""

    async def close(self) -> None:
        """Close the client's connections."""
        await self._guard("closing", self._client.close())

    async def _create(self) -> None:
        """Use the collection or alias `LORE_COLLECTION`, else create a physical collection behind it."""
        collections = Collections(self._client, self._dim, self._replication)
        if await self._client.collection_exists(self._collection):
            await collections.prepare(self._collection)
        else:
            await collections.create_aliased(self._collection)

    async def _delete(self, flt: models.Filter) -> None:
        selector = models.FilterSelector(filter=flt)
        await self._guard(
            "deleting", self._client.delete(self._collection, points_selector=selector, wait=True)
        )

    async def _guard(self, doing: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except _ENGINE_ERRORS as err:
            raise IndexUnavailable(
                f"Qdrant at {self._where} failed while {doing} ({type(err).__name__}: {err}). Check "
                "LORE_QDRANT_URL and LORE_QDRANT_API_KEY, and that the server runs and is reachable."
            ) from err


def _point(item: IndexedChunk) -> models.PointStruct:
    sparse = models.SparseVector(indices=item.sparse.indices, values=item.sparse.values)
    return models.PointStruct(
        id=item.chunk.id, vector={DENSE: item.dense, SPARSE: sparse}, payload=payload(item.chunk)
    )


def _access_filter(grants: list[str], source_ids: list[str] | None = None) -> models.Filter:
    must: list[models.Condition] = [models.FieldCondition(key="acl", match=models.MatchAny(any=grants))]
    if source_ids is not None:
        must.append(models.FieldCondition(key="source_id", match=models.MatchAny(any=source_ids)))
    return models.Filter(must=must)


def _source_filter(source_id: str) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id))]
    )


def _documents_filter(source_id: str, doc_ids: str | list[str]) -> models.Filter:
    """The chunks of one document or of several of a source."""
    if isinstance(doc_ids, str):
        return _document_filter(source_id, doc_ids)
    same_source = models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id))
    documents = models.FieldCondition(key="doc_id", match=models.MatchAny(any=doc_ids))
    return models.Filter(must=[same_source, documents])


def _stale_filter(source_id: str, documents: dict[str, list[IndexedChunk]]) -> models.Filter:
    """The chunks of `documents` numbered past their new ones: one clause per chunk count."""
    clauses: list[models.Condition] = [
        models.Filter(
            must=[
                models.FieldCondition(key="doc_id", match=models.MatchAny(any=doc_ids)),
                models.FieldCondition(key="chunk_no", range=models.Range(gte=count)),
            ]
        )
        for count, doc_ids in sorted(by_chunk_count(documents).items())
    ]
    return models.Filter(
        must=[models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id))],
        should=clauses,
    )


def _document_filter(source_id: str, doc_id: str, *, grants: list[str] | None = None) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id)),
        models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)),
    ]
    if grants is not None:
        must.append(models.FieldCondition(key="acl", match=models.MatchAny(any=grants)))
    return models.Filter(must=must)
