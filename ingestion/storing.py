"""Storing what a sync fetched and parsed: the chunks of several documents embedded in one batch, then the
group written (its documents' chunks replace the old ones in one index write, then their states in one state
write) while the next batch embeds.

Embedding dominates a sync, and the model is fastest on full batches: a document of one small chunk
embedded alone would leave most of a batch empty. So documents are grouped up to `GROUP_CHUNKS` chunks;
a group is embedded as one call (the model splits it into its batches), and only texts the index does not
hold already reach the model (`Index.stored_vectors`). A failed embedding fails the documents of its group
only, each recorded; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ingestion.connectors.base import DocumentRef
from ingestion.parse_pool import Parsed
from ingestion.state import DocState, SyncState
from ingestion.sync_result import DocError, SyncResult
from ingestion.writes import finished
from knowledge.embedding.base import Embedder, EmbeddingError
from knowledge.index.base import Index
from knowledge.models import Chunk, IndexedChunk
from knowledge.sparse import SparseEncoder, detect_lang

log = logging.getLogger(__name__)

GROUP_CHUNKS = 32  # chunks embedded in one call (two batches of the bundled model)
GROUP_DOCS = 64  # documents at most in one group
AHEAD = 2 * GROUP_DOCS  # documents fetched and parsed ahead of the embedding
IN_FLIGHT = 2  # groups handed to the embedder at once (the model never waits for the next group)


@dataclass
class Prepared:
    """A fetched document: its content hash ("" when fetching or parsing failed, already recorded) and
    its parse (None when its content is unchanged, or it failed)."""

    ref: DocumentRef
    content_hash: str
    parsed: Parsed | None


@dataclass
class Embedded:
    """A document ready to write: its chunks and their vectors (None: nothing to store)."""

    prepared: Prepared
    chunks: list[Chunk]
    dense: list[list[float]] | None


class Storer:
    """Embeds groups of documents and writes them."""

    def __init__(self, index: Index, embedder: Embedder, sparse: SparseEncoder, state: SyncState) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.state = state

    async def embed(self, source_id: str, group: list[Prepared], result: SyncResult) -> list[Embedded]:
        """The group's chunks with their vectors, in one call to the model for all of them."""
        chunked = [(p, _chunks(source_id, p) if p.parsed is not None else []) for p in group]
        texts = {(p.ref.doc_id, i): c.embedding_text() for p, chunks in chunked for i, c in enumerate(chunks)}
        try:
            vectors = await self._vectors(source_id, chunked)
        except EmbeddingError as exc:
            for p, chunks in chunked:
                if chunks:
                    log.warning("embedding failed for %s/%s: %s", source_id, p.ref.doc_id, exc)
                    result.errors.append(DocError(doc_id=p.ref.doc_id, reason=f"embedding failed: {exc}"))
                    result.failed += 1
            return [Embedded(p, [], None) if chunks else Embedded(p, chunks, []) for p, chunks in chunked]
        return [
            Embedded(p, chunks, [vectors[texts[(p.ref.doc_id, i)]] for i in range(len(chunks))])
            for p, chunks in chunked
        ]

    async def _vectors(
        self, source_id: str, chunked: list[tuple[Prepared, list[Chunk]]]
    ) -> dict[str, list[float]]:
        """Vectors by text: those the index holds already (a document's unchanged chunks, or the same text
        anywhere, embedded on any worker, whatever its embedding cache holds), the rest from the model."""
        texts = list(dict.fromkeys(c.embedding_text() for _, chunks in chunked for c in chunks))
        docs = [prepared.ref.doc_id for prepared, chunks in chunked if chunks]
        known = await self.index.stored_vectors(source_id, docs, texts) if texts else {}  # one call a group
        missing = [t for t in texts if t not in known]
        if missing:
            known.update(zip(missing, await self.embedder.embed_passages(missing), strict=True))
        return known

    async def write(
        self, source_id: str, group: list[Embedded], known: dict[str, DocState], result: SyncResult
    ) -> None:
        """Store a group's documents: their chunks replace the old ones in one index write, then their
        states in one state write (each write finishes even if the sync is cancelled meanwhile). A document
        whose content did not change gets its acl and version only; a failed one (recorded) nothing, so an
        older version (if any) stays, under the narrowed acl."""
        states: list[DocState] = []
        fresh: list[Embedded] = []
        for item in group:
            ref = item.prepared.ref
            if not item.prepared.content_hash or item.dense is None:
                continue
            if item.prepared.parsed is not None:
                fresh.append(item)
                continue
            old = known[ref.doc_id]
            if sorted(old.acl) != sorted(ref.acl):
                await finished(self.index.update_acl(source_id, ref.doc_id, ref.acl))
                result.acl_updated += 1
            else:
                result.unchanged += 1
            states.append(old.model_copy(update={"version": ref.version, "acl": ref.acl}))
        documents = await asyncio.to_thread(self._indexed, fresh)
        if documents:
            await finished(self.index.replace_documents(source_id, documents))
        for item in fresh:
            ref, chunks = item.prepared.ref, item.chunks
            states.append(
                DocState(
                    doc_id=ref.doc_id,
                    version=ref.version,
                    content_hash=item.prepared.content_hash,
                    acl=ref.acl,
                    chunks=len(chunks),
                    title=chunks[0].title if chunks else ref.title,
                )
            )
            result.chunks += len(chunks)
            if ref.doc_id in known:
                result.updated += 1
            else:
                result.added += 1
        await finished(self.state.put_many(source_id, states))

    def _indexed(self, fresh: list[Embedded]) -> dict[str, list[IndexedChunk]]:
        """The chunks to store of each document, with their dense and sparse vectors (CPU: in a thread)."""
        return {
            item.prepared.ref.doc_id: [
                IndexedChunk(chunk=c, dense=d, sparse=self.sparse.encode_fields(c.heading(), c.text))
                for c, d in zip(item.chunks, item.dense or [], strict=True)
            ]
            for item in fresh
        }


def group_full(group: list[Prepared]) -> bool:
    """True when a group has chunks (or documents) enough for one embedding call."""
    chunks = sum(len(p.parsed.drafts) for p in group if p.parsed is not None)
    return chunks >= GROUP_CHUNKS or len(group) >= GROUP_DOCS


def _chunks(source_id: str, prepared: Prepared) -> list[Chunk]:
    ref, parsed = prepared.ref, prepared.parsed
    assert parsed is not None
    return [
        Chunk(
            source_id=source_id,
            doc_id=ref.doc_id,
            chunk_no=i,
            title=parsed.title or ref.title,
            url=ref.url,
            heading_path=d.heading_path,
            text=d.text,
            updated_at=ref.updated_at,
            acl=ref.acl,
            lang=detect_lang(d.text),
        )
        for i, d in enumerate(parsed.drafts)
    ]
