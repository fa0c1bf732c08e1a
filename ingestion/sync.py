"""The sync engine, shared by `lore ingest` and the worker: list, diff, and apply the difference.

Access first: before any content is fetched, every listed document's indexed chunks get the access it may
have now. A document whose content is unchanged gets its new acl at once (no re-embedding); one that
changed, or that the connector lists as a failed entry, keeps its old text only under the intersection of
its old and new acl until its new content is stored under the new acl, so a fetch, parse or embedding that
fails can never leave the old, wider access in place. A source's ceiling bounds every acl. Then documents
gone from the source are deleted, unless that would delete most of the source at once (the mass-deletion
guard: an unmounted share looks exactly like that), and new or changed documents are fetched, parsed,
chunked, embedded and stored. State is written per group of documents after their chunks are stored, and
always records the acl the index holds. A bad document is recorded and skipped; a failed listing prunes
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ingestion.connectors.base import Connector, DocumentRef
from ingestion.connectors.cache import ConnectorCache
from ingestion.parse_pool import ParseJob, ParsePool, too_large
from ingestion.state import DocState, SyncState
from ingestion.storing import AHEAD, IN_FLIGHT, Embedded, Prepared, Storer, group_full
from ingestion.sync_result import DocError as DocError
from ingestion.sync_result import SyncLimits as SyncLimits
from ingestion.sync_result import SyncResult as SyncResult
from ingestion.writes import finished
from knowledge.access import intersect
from knowledge.embedding.base import Embedder
from knowledge.index.base import Index
from knowledge.sparse import SparseEncoder

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]
READ_BATCH = 16  # small documents hashed and parsed in one call to the parser process
READ_BATCH_BYTES = 1 << 20  # ... as long as they add up to less than this
Registered = Callable[[], Awaitable[bool]]  # is the source still registered? (asked after each group)


class SourceRemoved(Exception):
    """The source was removed from the registry while it synced: the sync stopped (its caller removes
    what is left of the source)."""


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
        caches: Callable[[str], ConnectorCache] | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.state = state
        self.parser = parser
        self.limits = limits
        self.caches = caches  # a source's connector cache, forgotten with the source
        self.storer = Storer(index, embedder, sparse, state)

    async def sync(
        self,
        source_id: str,
        connector: Connector,
        progress: Progress | None = None,
        *,
        ceiling: list[str] | None = None,
        allow_deletes: bool = False,
        registered: Registered | None = None,
    ) -> SyncResult:
        """One incremental sync of `source_id`; the listing must succeed before anything is pruned.

        `ceiling` bounds every document's acl (`Source.ceiling`); `allow_deletes` lets a sync delete what
        the mass-deletion guard would hold back; `registered` is asked after each stored group, and a
        False stops the sync with `SourceRemoved`.
        """
        started = time.perf_counter()
        result = SyncResult(source_id=source_id)
        listed = {ref.doc_id: _bounded(ref, ceiling) async for ref in connector.list_documents()}
        result.unreadable = sum(1 for ref in listed.values() if not ref.acl and not ref.problem)
        result.notes = list(getattr(connector, "notes", []))  # optional: e.g. a web crawl's page budget
        known = await self._known(source_id)
        result.indexed = len(known)
        todo = await self._access_first(source_id, listed, known, result)
        await self._prune(source_id, [d for d in known if d not in listed], allow_deletes, result)
        with tempfile.TemporaryDirectory(prefix="lore-fetch-") as workdir:
            await self._process(
                source_id, connector, todo, known, Path(workdir), result, progress, registered
            )
        result.seconds = time.perf_counter() - started
        return result

    async def _known(self, source_id: str) -> dict[str, DocState]:
        """What the state says is indexed of a source; nothing when the index holds none of it although the
        state counts chunks (an index wiped or replaced under a state that outlived it: Redis kept, data dir
        or collection gone), so that everything is indexed again instead of skipped as unchanged."""
        known = await self.state.documents(source_id)
        if any(s.chunks for s in known.values()) and not await self.index.count(source_id):
            log.warning(
                "the sync state of %s names %d documents but the index holds none of them: syncing it afresh",
                source_id,
                len(known),
            )
            await finished(self.state.delete(source_id))
            return {}
        return known

    async def _access_first(
        self, source_id: str, listed: dict[str, DocumentRef], known: dict[str, DocState], result: SyncResult
    ) -> list[DocumentRef]:
        """Give every listed document that is indexed the access it may have now, before any content is
        fetched; returns the documents whose content must be fetched."""
        todo: list[DocumentRef] = []
        for ref in listed.values():
            old = known.get(ref.doc_id)
            if ref.problem:
                _fail(result, ref, ref.problem)
                if old is not None:
                    await self._narrow(source_id, ref, old, known, result)
            elif old is None:
                todo.append(ref)
            elif old.version != ref.version:
                await self._narrow(source_id, ref, old, known, result)
                todo.append(ref)
            elif sorted(old.acl) != sorted(ref.acl):
                await self._set_acl(source_id, old.model_copy(update={"acl": ref.acl}), result)
            else:
                result.unchanged += 1
        return todo

    async def _narrow(
        self, source_id: str, ref: DocumentRef, old: DocState, known: dict[str, DocState], result: SyncResult
    ) -> None:
        """Before a document's new content is stored (or when it cannot be): its old text stays readable
        only by those allowed under both its old and its new acl. Its state keeps the old version, so the
        content is tried again at the next sync."""
        held = intersect(old.acl, ref.acl)
        if sorted(held) != sorted(old.acl):
            known[ref.doc_id] = old.model_copy(update={"acl": held})
            await self._set_acl(source_id, known[ref.doc_id], result)

    async def _set_acl(self, source_id: str, state: DocState, result: SyncResult) -> None:
        await finished(self.index.update_acl(source_id, state.doc_id, state.acl))
        await finished(self.state.put(source_id, state))
        result.acl_updated += 1

    async def _prune(self, source_id: str, gone: list[str], allow_deletes: bool, result: SyncResult) -> None:
        """Delete the documents gone from the source, unless the guard holds that many back."""
        if not allow_deletes and self.limits.holds_back(result.indexed, len(gone)):
            result.held = len(gone)
            log.warning(
                "%s: %d of %d documents are gone from the listing; none deleted (the mass-deletion guard)",
                source_id,
                len(gone),
                result.indexed,
            )
            return
        for doc_id in sorted(gone):
            await finished(self.index.delete_document(source_id, doc_id))
            await finished(self.state.delete(source_id, doc_id))
            result.deleted += 1

    async def _process(
        self,
        source_id: str,
        connector: Connector,
        todo: list[DocumentRef],
        known: dict[str, DocState],
        workdir: Path,
        result: SyncResult,
        progress: Progress | None,
        registered: Registered | None,
    ) -> None:
        """Three stages at once: fetch and parse ahead, embed several documents' chunks in one call, and
        write each group (index, then state) while the next groups embed (ingestion/storing.py). Up to
        `IN_FLIGHT` groups are handed to the embedder at once, so that the model always has the next batch
        waiting: between two groups it would otherwise idle while the index is asked for known vectors and
        the embedding cache is read and written."""
        parsed: asyncio.Queue[Prepared | None] = asyncio.Queue(maxsize=AHEAD)
        embedding: asyncio.Queue[asyncio.Task[list[Embedded]] | None] = asyncio.Queue()
        slots = asyncio.Semaphore(IN_FLIGHT)  # groups handed to the embedder and not yet returned

        async def produce() -> None:
            # The end mark goes in when production ends or fails, not when it is cancelled: then the
            # consumer has stopped, and a full queue would keep the mark (and this task) waiting forever.
            try:
                batch: list[tuple[DocumentRef, Path | None]] = []
                for ref in todo:
                    path = await self._fetch(connector, ref, workdir, result)
                    batch.append((ref, path))
                    if _batch_full(batch, workdir):
                        for item in await self._read(batch, known, workdir, result):
                            await parsed.put(item)
                        batch = []
                for item in await self._read(batch, known, workdir, result):
                    await parsed.put(item)
            except Exception:
                await parsed.put(None)
                raise
            await parsed.put(None)

        async def embed() -> None:
            try:
                ended = False
                while not ended and (first := await parsed.get()) is not None:
                    group = [first]
                    while not group_full(group) and not parsed.empty():
                        if (item := parsed.get_nowait()) is None:
                            ended = True
                            break
                        group.append(item)
                    await slots.acquire()
                    embedding.put_nowait(asyncio.create_task(self.storer.embed(source_id, group, result)))
            except Exception:
                embedding.put_nowait(None)
                raise
            embedding.put_nowait(None)

        stages = [asyncio.create_task(produce()), asyncio.create_task(embed())]
        done = 0
        try:
            while (task := await embedding.get()) is not None:
                group = await task
                slots.release()
                await self.storer.write(source_id, group, known, result)
                for item in group:
                    done += 1
                    if progress:
                        progress(done, len(todo), item.prepared.ref.doc_id)
                if registered is not None and not await registered():
                    raise SourceRemoved(source_id)
            for stage in stages:  # what stopped a stage early (a bug, say) is raised, never swallowed
                await stage
        finally:
            for stage in stages:
                stage.cancel()
            await asyncio.gather(*stages, return_exceptions=True)
            waiting = []  # groups handed to the embedder that will not be written now
            while not embedding.empty():
                if (left := embedding.get_nowait()) is not None:
                    left.cancel()
                    waiting.append(left)
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _fetch(
        self, connector: Connector, ref: DocumentRef, workdir: Path, result: SyncResult
    ) -> Path | None:
        """The fetched document's file; None when it cannot be fetched (recorded)."""
        if ref.size is not None and ref.size > self.limits.max_bytes:
            _fail(result, ref, too_large(ref.size, self.limits.max_bytes))
            return None
        try:
            return await connector.fetch(ref, workdir)
        except ValueError as exc:  # too large, found out while fetching
            _fail(result, ref, str(exc))
        except OSError as exc:
            _fail(result, ref, f"cannot fetch: {exc.strerror or exc}")
        return None

    async def _read(
        self,
        batch: list[tuple[DocumentRef, Path | None]],
        known: dict[str, DocState],
        workdir: Path,
        result: SyncResult,
    ) -> list[Prepared]:
        """Hash and parse a batch of fetched documents in one call to the parser; no parse for a document
        whose content did not change, or that failed (recorded)."""
        fetched = [(ref, path) for ref, path in batch if path is not None]
        try:
            outcomes = (
                await self.parser.read(
                    [ParseJob(path=str(path), known_hash=_known_hash(known, ref)) for ref, path in fetched],
                    max_bytes=self.limits.max_bytes,
                    size=self.limits.chunk_size,
                    overlap=self.limits.chunk_overlap,
                )
                if fetched
                else []
            )
        finally:  # a copy the connector made is not kept: a big share must not fill the temp disk
            for _, path in fetched:
                if path.is_relative_to(workdir):
                    await asyncio.to_thread(path.unlink, True)
        read = {ref.doc_id: outcome for (ref, _), outcome in zip(fetched, outcomes, strict=True)}
        prepared = []
        for ref, _ in batch:
            outcome = read.get(ref.doc_id)  # None: the fetch failed (recorded)
            if outcome is not None and outcome.error is not None:
                _fail(result, ref, outcome.error)
                outcome = None
            prepared.append(
                Prepared(ref, outcome.content_hash, outcome.parsed)
                if outcome is not None
                else Prepared(ref, "", None)
            )
        return prepared

    async def remove_source(self, source_id: str) -> None:
        """Delete every chunk and all state of a source, its connector's cache too (each write finishes even
        if cancelled)."""
        await finished(self.index.delete_source(source_id))
        await finished(self.state.delete(source_id))
        if self.caches is not None:
            await finished(self.caches(source_id).forget())


def _bounded(ref: DocumentRef, ceiling: list[str] | None) -> DocumentRef:
    """The document with its acl bounded by the source's ceiling (nobody reads beyond it)."""
    if ceiling is None:
        return ref
    return ref.model_copy(update={"acl": intersect(ref.acl, ceiling)})


def _known_hash(known: dict[str, DocState], ref: DocumentRef) -> str | None:
    old = known.get(ref.doc_id)
    return old.content_hash if old is not None else None


def _batch_full(batch: list[tuple[DocumentRef, Path | None]], workdir: Path) -> bool:
    """True when the fetched documents should be read now: a batch is full (`READ_BATCH` documents, or
    `READ_BATCH_BYTES`), holds a document of unknown size, or the last fetch made a copy (a copy is gone
    before the next download)."""
    ref, path = batch[-1]
    return (
        len(batch) >= READ_BATCH
        or ref.size is None
        or sum(r.size or 0 for r, _ in batch) >= READ_BATCH_BYTES
        or (path is not None and path.is_relative_to(workdir))
    )


def _fail(result: SyncResult, ref: DocumentRef, reason: str) -> None:
    result.failed += 1
    result.errors.append(DocError(doc_id=ref.doc_id, reason=reason))
