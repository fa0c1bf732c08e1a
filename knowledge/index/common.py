"""Helpers both index backends share: checking a document's chunks and reading payloads back."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from knowledge.index.base import TEXT_KEY, ChunkRange
from knowledge.models import Chunk, IndexedChunk, point_id

# Points read per scroll page when listing a document's chunks.
SCROLL_PAGE = 256


def check_document(source_id: str, doc_id: str, chunks: list[IndexedChunk]) -> None:
    """Refuse chunks of another document or numbered other than 0..n-1 (stale-chunk removal relies on it)."""
    for expected_no, item in enumerate(sorted(chunks, key=lambda c: c.chunk.chunk_no)):
        chunk = item.chunk
        if (chunk.source_id, chunk.doc_id) != (source_id, doc_id):
            raise ValueError(f"chunk of {chunk.source_id}:{chunk.doc_id} given for {source_id}:{doc_id}")
        if chunk.chunk_no != expected_no:
            raise ValueError(f"chunks of {source_id}:{doc_id} must be numbered 0..{len(chunks) - 1}")


def by_chunk_count(documents: dict[str, list[IndexedChunk]]) -> dict[int, list[str]]:
    """Document ids by their number of chunks (a group's stale chunks are removed one count at a time)."""
    counts: dict[int, list[str]] = {}
    for doc_id, chunks in documents.items():
        counts.setdefault(len(chunks), []).append(doc_id)
    return counts


def range_ids(ranges: list[ChunkRange]) -> list[str]:
    """The point ids of every chunk in `ranges`, each once (ids are derived from the chunk numbers)."""
    ids = (point_id(r.source_id, r.doc_id, no) for r in ranges for no in r.numbers())
    return list(dict.fromkeys(ids))


def text_key(text: str) -> str:
    """What finds a text the model saw among the stored chunks (`TEXT_KEY`): a hash of it."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def payload(chunk: Chunk) -> dict[str, Any]:
    """The stored payload of a chunk (JSON types; `updated_at` as an ISO string), with the key of the text
    its vector was made from."""
    return {**chunk.model_dump(mode="json"), TEXT_KEY: text_key(chunk.embedding_text())}


def chunk_of(stored: Mapping[str, Any] | None) -> Chunk:
    """The chunk a stored payload describes."""
    fields = dict(stored or {})
    fields.pop(TEXT_KEY, None)
    return Chunk.model_validate(fields)
