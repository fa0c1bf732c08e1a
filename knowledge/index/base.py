"""The index contract: what every vector-store backend of Lore provides."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from knowledge.models import Chunk, IndexedChunk, ScoredChunk, SparseVector

# payload fields with an index, named once
PAYLOAD_INDEXES: dict[str, Literal["keyword", "datetime"]] = {
    "acl": "keyword",
    "source_id": "keyword",
    "doc_id": "keyword",
    "updated_at": "datetime",
    "text_key": "keyword",
}
TEXT_KEY = "text_key"  # payload: the key of the text a chunk's vector was made from (`common.text_key`)
DENSE = "dense"
SPARSE = "sparse"


class HybridQuery(BaseModel):
    """One retrieval request; `grants` (the principal's access strings) filter inside the query."""

    grants: list[str] = Field(min_length=1)
    dense: list[float] | None = None
    sparse: SparseVector | None = None
    limit: int = Field(10, ge=1)
    prefetch: int = Field(40, ge=1)
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    rrf_k: int = 60
    source_ids: list[str] | None = None


class ChunkRange(BaseModel):
    """Chunks `first`..`last` (inclusive) of one document: the neighbourhood of a hit, for its window."""

    source_id: str
    doc_id: str
    first: int = Field(ge=0)
    last: int = Field(ge=0)

    def numbers(self) -> range:
        """The chunk numbers of the range."""
        return range(self.first, self.last + 1)


class IndexUnavailable(RuntimeError):
    """The vector store cannot be reached or used; `retryable` tells callers whether to try again."""

    retryable = True


class Index(Protocol):
    """A vector store holding Lore's chunks (Qdrant Edge embedded, or a Qdrant server)."""

    async def ensure(self) -> None:
        """Create the collection, its vectors and payload indexes if missing."""

    async def replace_document(self, source_id: str, doc_id: str, chunks: list[IndexedChunk]) -> None:
        """Store `chunks` as the whole of the document, removing any chunk of it not among them."""

    async def replace_documents(self, source_id: str, documents: dict[str, list[IndexedChunk]]) -> None:
        """`replace_document` for several documents of one source in one write (a sync's group): every
        document's chunks are stored first, then each one's chunks numbered past them are removed."""

    async def update_acl(self, source_id: str, doc_id: str, acl: list[str]) -> None:
        """Set a new acl on every chunk of a document, without touching vectors."""

    async def delete_document(self, source_id: str, doc_id: str) -> None:
        """Remove every chunk of a document."""

    async def delete_source(self, source_id: str) -> None:
        """Remove every chunk of a source."""

    async def query(self, request: HybridQuery) -> list[ScoredChunk]:
        """Dense and sparse prefetch fused with weighted RRF (or one signal alone), filtered by acl."""

    async def document_chunks(self, source_id: str, doc_id: str, grants: list[str]) -> list[Chunk]:
        """The chunks of one document visible to `grants`, in order."""

    async def stored_vectors(
        self, source_id: str, doc_id: str | list[str], texts: list[str]
    ) -> dict[str, list[float]]:
        """The dense vectors already stored for any of `texts` (as the model saw them,
        `Chunk.embedding_text`), from the document's (or the documents') own chunks or from any chunk in the
        index made from the same text: a chunk text embedded once, by any worker, is not embedded again (a
        changed document's unchanged chunks, a page copied into another source), whatever the worker's own
        cache holds. A sync asks once for a group of documents. Not for readers: no access filter, and only
        vectors come back."""

    async def chunk_ranges(self, ranges: list[ChunkRange], grants: list[str]) -> list[Chunk]:
        """The chunks of `ranges` that `grants` may read (any order), in one filtered call: the
        neighbours that context windows join to their hits."""

    async def count(self, source_id: str | None = None, grants: list[str] | None = None) -> int:
        """Number of chunks, of one source or of all; only those `grants` may read when given."""

    async def optimize(self) -> None:
        """Build pending vector indexes (HNSW) where the backend needs a nudge."""

    async def close(self) -> None:
        """Flush and release the store."""
