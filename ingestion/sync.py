"""The sync engine, shared by `lore ingest` and the worker: list, diff, and apply the difference.

New or changed documents are fetched, parsed, chunked, embedded and stored; acl-only changes update payloads
without re-embedding; documents gone from the source are deleted. State is written per document after its
chunks are stored. A bad document is recorded and skipped; a failed listing prunes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from ingestion.connectors.base import Connector, DocumentRef
from ingestion.parse_pool import Parsed, ParsePool
from ingestion.parsing import ParseError
from ingestion.state import DocState, SyncState
from knowledge.embedding.base import Embedder, EmbeddingError
from knowledge.index.base import Index
from knowledge.models import Chunk, IndexedChunk
from knowledge.sparse import SparseEncoder, detect_lang

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]


class DocError(BaseModel):
    """A document that could not be indexed, and why."""

    doc_id: str
    reason: str


class SyncResult(BaseModel):
    """The summary of one sync of one source."""

    source_id: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    acl_updated: int = 0
    deleted: int = 0
    failed: int = 0
    chunks: int = Field(0, description="Chunks stored by this sync.")
    unreadable: int = Field(0, description="Listed documents whose access maps to nobody (empty acl).")
    notes: list[str] = Field(default_factory=list, description="What the connector wants an admin to know.")
    seconds: float = 0.0
    errors: list[DocError] = Field(default_factory=list)

    def line(self) -> str:
        """The one-line summary printed by `lore ingest`."""
        line = (
            f"{self.source_id}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} deleted, {self.failed} failed, {self.chunks} chunks, {self.seconds:.1f} s"
        )
        if self.unreadable:
            line += (
                f"; {self.unreadable} readable by nobody: map their accounts to Lore access in the "
                "directory file (LORE_DIRECTORY_FILE, accounts:)"
            )
        for note in self.notes:
            line += f"; {note}"
        return line


class SyncLimits(BaseModel):
    """Per-document limits and chunking parameters."""

    max_bytes: int
    chunk_size: int
    chunk_overlap: int


class SyncEngine:
    """Brings the index in line with a connector's listing."""

    def __init__(
        self,
        *,
        index: Index,
        embedder: Embedder,
        sparse: SparseEncoder,
        state: SyncState,
        parser: ParsePool,
        limits: SyncLimits,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.state = state
        self.parser = parser
        self.limits = limits

    async def sync(
        self, source_id: str, connector: Connector, progress: Progress | None = None
    ) -> SyncResult:
        """One incremental sync of `source_id`; the listing must succeed before anything is pruned."""
        started = time.perf_counter()
        result = SyncResult(source_id=source_id)
        listed = {ref.doc_id: ref async for ref in connector.list_documents()}
        result.unreadable = sum(1 for ref in listed.values() if not ref.acl)
        result.notes = list(getattr(connector, "notes", []))  # optional: e.g. a web crawl's page budget
        known = await self.state.documents(source_id)
        todo = [ref for ref in listed.values() if _needs_content(ref, known.get(ref.doc_id))]
        fetching = {ref.doc_id for ref in todo}
        for ref in listed.values():
            old = known.get(ref.doc_id)
            if old is not None and ref.doc_id not in fetching:
                if sorted(old.acl) != sorted(ref.acl):
                    await self._update_acl(source_id, ref, old, result)
                else:
                    result.unchanged += 1
        for doc_id in sorted(set(known) - set(listed)):
            await self.index.delete_document(source_id, doc_id)
            await self.state.delete(source_id, doc_id)
            result.deleted += 1
        with tempfile.TemporaryDirectory(prefix="lore-fetch-") as workdir:
            await self._process(source_id, connector, todo, known, Path(workdir), result, progress)
        result.seconds = time.perf_counter() - started
        return result

    async def _update_acl(self, source_id: str, ref: DocumentRef, old: DocState, result: SyncResult) -> None:
        await self.index.update_acl(source_id, ref.doc_id, ref.acl)
        await self.state.put(source_id, old.model_copy(update={"acl": ref.acl, "version": ref.version}))
        result.acl_updated += 1

    async def _process(
        self,
        source_id: str,
        connector: Connector,
        todo: list[DocumentRef],
        known: dict[str, DocState],
        workdir: Path,
        result: SyncResult,
        progress: Progress | None,
    ) -> None:
        """Parse the next document while the current one is embedded (a two-stage pipeline)."""
        queue: asyncio.Queue[tuple[DocumentRef, str, Parsed | None] | None] = asyncio.Queue(maxsize=2)

        async def produce() -> None:
            try:
                for ref in todo:
                    await queue.put(await self._prepare(source_id, connector, ref, known, workdir, result))
            finally:
                await queue.put(None)

        producer = asyncio.create_task(produce())
        done = 0
        try:
            while (item := await queue.get()) is not None:
                ref, content_hash, parsed = item
                await self._store(source_id, ref, content_hash, parsed, known.get(ref.doc_id), result)
                done += 1
                if progress:
                    progress(done, len(todo), ref.doc_id)
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)

    async def _prepare(
        self,
        source_id: str,
        connector: Connector,
        ref: DocumentRef,
        known: dict[str, DocState],
        workdir: Path,
        result: SyncResult,
    ) -> tuple[DocumentRef, str, Parsed | None]:
        """Fetch and parse one document; `None` when its content did not change (or it failed)."""
        if ref.size is not None and ref.size > self.limits.max_bytes:
            _fail(result, ref, _too_large(ref.size, self.limits.max_bytes))
            return ref, "", None
        try:
            path = await connector.fetch(ref, workdir)
        except ValueError as exc:  # too large, found out while fetching
            _fail(result, ref, str(exc))
            return ref, "", None
        except OSError as exc:
            _fail(result, ref, f"cannot fetch: {exc.strerror or exc}")
            return ref, "", None
        try:
            return await self._read(ref, path, known, result)
        finally:  # a copy the connector made is not kept: a big share must not fill the temp disk
            if path.is_relative_to(workdir):
                await asyncio.to_thread(path.unlink, True)

    async def _read(
        self, ref: DocumentRef, path: Path, known: dict[str, DocState], result: SyncResult
    ) -> tuple[DocumentRef, str, Parsed | None]:
        """Hash and parse a fetched document; `None` when its content did not change (or it failed)."""
        try:
            content_hash = await asyncio.to_thread(_hash_file, path, self.limits.max_bytes)
        except ValueError as exc:  # too large, found out after fetching
            _fail(result, ref, str(exc))
            return ref, "", None
        except OSError as exc:
            _fail(result, ref, f"cannot fetch: {exc.strerror or exc}")
            return ref, "", None
        old = known.get(ref.doc_id)
        if old is not None and old.content_hash == content_hash:
            return ref, content_hash, None  # touched, not changed: nothing to parse or embed
        try:
            parsed = await self.parser.parse(
                path,
                max_bytes=self.limits.max_bytes,
                size=self.limits.chunk_size,
                overlap=self.limits.chunk_overlap,
            )
        except ParseError as exc:
            _fail(result, ref, exc.reason)
            return ref, "", None
        return ref, content_hash, parsed

    async def _store(
        self,
        source_id: str,
        ref: DocumentRef,
        content_hash: str,
        parsed: Parsed | None,
        old: DocState | None,
        result: SyncResult,
    ) -> None:
        if not content_hash:
            return  # failed in _prepare; an older indexed version (if any) stays searchable
        if parsed is None:
            assert old is not None
            if sorted(old.acl) != sorted(ref.acl):
                await self.index.update_acl(source_id, ref.doc_id, ref.acl)
                result.acl_updated += 1
            else:
                result.unchanged += 1
            await self.state.put(source_id, old.model_copy(update={"version": ref.version, "acl": ref.acl}))
            return
        chunks = [
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
        try:
            dense = await self.embedder.embed_passages([c.embedding_text() for c in chunks])
        except EmbeddingError as exc:
            log.warning("embedding failed for %s/%s: %s", source_id, ref.doc_id, exc)
            _fail(result, ref, f"embedding failed: {exc}")
            return
        sparse = await asyncio.to_thread(
            lambda: [self.sparse.encode_passage(c.embedding_text()) for c in chunks]
        )
        await self.index.replace_document(
            source_id,
            ref.doc_id,
            [IndexedChunk(chunk=c, dense=d, sparse=s) for c, d, s in zip(chunks, dense, sparse, strict=True)],
        )
        await self.state.put(
            source_id,
            DocState(
                doc_id=ref.doc_id,
                version=ref.version,
                content_hash=content_hash,
                acl=ref.acl,
                chunks=len(chunks),
                title=chunks[0].title,
            ),
        )
        result.chunks += len(chunks)
        if old is None:
            result.added += 1
        else:
            result.updated += 1

    async def remove_source(self, source_id: str) -> None:
        """Delete every chunk and all state of a source."""
        await self.index.delete_source(source_id)
        await self.state.delete(source_id)


def _needs_content(ref: DocumentRef, old: DocState | None) -> bool:
    return old is None or old.version != ref.version


def _hash_file(path: Path, max_bytes: int) -> str:
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(_too_large(size, max_bytes))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _too_large(size: int, limit: int) -> str:
    return f"file too large ({size / 1e6:.1f} MB > {limit / 1e6:.0f} MB limit, LORE_MAX_FILE_MB)"


def _fail(result: SyncResult, ref: DocumentRef, reason: str) -> None:
    result.failed += 1
    result.errors.append(DocError(doc_id=ref.doc_id, reason=reason))
