"""Removal is final: a source removed (`run_delete`, what `/lore remove` queues) while its sync runs leaves
no chunk and no state behind, whatever the sync does next: go on to the end, fail, hang until its time
limit, be cancelled by a shutdown (and run again when handed back), or fail its listing (no retry); and a
job handed back by a worker killed mid-sync removes what that worker left."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ingestion.connectors.base import Connector, DocumentRef, ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.source_jobs import run_delete, run_sync
from ingestion.sync import SourceRemoved
from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.base import Index
from knowledge.jobs import JobRequest
from knowledge.settings import Settings
from knowledge.sources import Source
from tests.change_harness import ADMIN, World, found, last_told, world
from tests.conftest import write_pages

PAGES = {
    f"team{i}.md": f"# Team {i}\n\nThe Ibex team {i} meets on floor {i + 2} every Tuesday.\n"
    for i in range(12)
}
WIKI = JobRequest(source_id="wiki", requested_by=ADMIN)


class Cued:
    """A folder whose fetch of document `at` waits for `go` (after setting `reached`); then each later
    fetch does `then`: "go on", "fail" (an unexpected error) or "hang". With `then` = "listing fails" the
    listing itself waits, then fails as an unreachable share does."""

    kind = "files"

    def __init__(self, folder: Path, then: str, at: int = 1) -> None:
        self.inner, self.then, self.at, self.fetched = FilesConnector([folder], ["public"]), then, at, 0
        self.reached, self.go = asyncio.Event(), asyncio.Event()

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        if self.then == "listing fails":
            self.reached.set()
            await self.go.wait()
            raise ListingError("cannot reach the share")
        async for ref in self.inner.list_documents():
            yield ref

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        n, self.fetched = self.fetched, self.fetched + 1
        if n == self.at:
            self.reached.set()
            await self.go.wait()
        elif n > self.at and self.then == "fail":
            raise RuntimeError("the connector broke")
        elif n > self.at and self.then == "hang":
            await asyncio.Event().wait()
        return await self.inner.fetch(ref, workdir)


async def removed_midway(w: World, cued: Cued, *, retry: bool = False) -> asyncio.Task[float | None]:
    """Start a sync, remove the source while it waits at its cue, and let it go on; returns its task."""
    task = asyncio.create_task(run_sync(w.context, WIKI, retry=retry))
    await asyncio.wait_for(cued.reached.wait(), 30)
    await run_delete(w.context, WIKI)
    assert await w.registry.get("wiki") is None
    cued.go.set()
    return task


async def nothing_left(w: World) -> bool:
    return (
        await w.index.count("wiki") == 0
        and await w.context.engine.state.documents("wiki") == {}
        and await found(w, "Ibex team floor", ["public"]) == {}
    )


@asynccontextmanager
async def cued_world(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path, then: str, **context: Any
) -> AsyncIterator[tuple[World, Cued]]:
    """A deployment whose source `wiki` (four notes) is read through a `Cued` connector."""
    cued = Cued(write_pages(tmp_path / "wiki", PAGES), then)

    def connector_for(source: Source, settings: Settings) -> Connector:
        return cued

    async with world(settings, embedder, tmp_path, connector_for=connector_for, **context) as w:
        await w.registry.put(Source(id="wiki", location=[str(tmp_path / "wiki")], access=["public"]))
        yield w, cued


@pytest.mark.parametrize("then", ["go on", "fail", "hang"])
async def test_a_source_removed_during_its_sync_leaves_nothing_whatever_the_sync_does_next(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path, then: str
) -> None:
    async with cued_world(settings, embedder, tmp_path, then, job_timeout=3.0) as (w, cued):
        task = await removed_midway(w, cued)
        assert await task is None
        assert await nothing_left(w)
        assert "Sync of `wiki` stopped: the source was removed meanwhile" in last_told(w)


async def test_a_sync_cancelled_by_a_shutdown_after_its_source_was_removed_leaves_nothing(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    async with cued_world(settings, embedder, tmp_path, "go on") as (w, cued):
        task = asyncio.create_task(run_sync(w.context, WIKI))
        await asyncio.wait_for(cued.reached.wait(), 30)
        await run_delete(w.context, WIKI)
        task.cancel()  # what a worker's shutdown does to a running job (arq then hands it back)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await nothing_left(w)
        assert await run_sync(w.context, WIKI) is None  # the handed-back job
        assert await nothing_left(w)
        assert "is not registered" in last_told(w)


async def test_a_failed_listing_of_a_removed_source_is_not_retried(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    async with cued_world(settings, embedder, tmp_path, "listing fails") as (w, cued):
        task = await removed_midway(w, cued, retry=True)
        assert await task is None  # a retryable error, but the source is gone: no retry
        assert await nothing_left(w)


async def test_a_job_handed_back_by_a_killed_worker_removes_what_it_left(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    folder = write_pages(tmp_path / "wiki", PAGES)
    async with world(settings, embedder, tmp_path) as w:
        # what a worker killed mid-sync leaves when the source was removed meanwhile: chunks and state
        await w.context.engine.sync("wiki", FilesConnector([folder], ["public"]))
        assert await w.registry.get("wiki") is None and await w.index.count("wiki") > 0
        assert "team1.md" in await found(w, "Ibex team floor", ["public"])
        assert await run_sync(w.context, WIKI) is None  # its job, handed back to another worker
        assert await nothing_left(w)
        assert "not registered (anything left of it in the index was removed)" in last_told(w)


class Counting(FilesConnector):
    """A folder that says when its `after`-th fetch has started."""

    def __init__(self, folder: Path, after: int) -> None:
        super().__init__([folder], ["public"])
        self.after, self.fetched, self.reached = after, 0, asyncio.Event()

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        self.fetched += 1
        if self.fetched >= self.after:
            self.reached.set()
        return await super().fetch(ref, workdir)


async def test_a_sync_stopped_while_its_pipeline_is_full_ends_at_once(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    connector = Counting(write_pages(tmp_path / "wiki", PAGES), after=4)  # the queue (2) is full by then

    async def registered() -> bool:  # removed once the parser has run ahead of the embedder
        await connector.reached.wait()
        return False

    async with world(settings, embedder, tmp_path) as w:
        with pytest.raises(SourceRemoved):
            await asyncio.wait_for(w.context.engine.sync("wiki", connector, registered=registered), 30)


class HeldWrites:
    """The index, except that storing documents happens in a thread that waits for `go`: like Qdrant
    Edge's writes, which run in a thread that a cancelled caller does not stop."""

    def __init__(self, inner: Index) -> None:
        self.inner = inner
        self.entered, self.go, self.landed = threading.Event(), threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def replace_documents(self, source_id: str, documents: dict[str, list[Any]]) -> None:
        loop = asyncio.get_running_loop()

        def write() -> None:
            self.entered.set()
            self.go.wait(30)
            asyncio.run_coroutine_threadsafe(
                self.inner.replace_documents(source_id, documents), loop
            ).result()
            self.landed.set()

        await asyncio.to_thread(write)


async def test_a_write_in_flight_when_the_sync_is_cancelled_lands_before_the_last_check(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    held: list[HeldWrites] = []

    def writes_through(index: Index) -> Index:
        held.append(HeldWrites(index))
        return held[0]  # type: ignore[return-value]

    folder = write_pages(tmp_path / "wiki", dict(list(PAGES.items())[:1]))
    async with world(settings, embedder, tmp_path, writes_through=writes_through) as w:
        await w.registry.put(Source(id="wiki", location=[str(folder)], access=["public"]))
        task = asyncio.create_task(run_sync(w.context, WIKI))
        assert await asyncio.to_thread(held[0].entered.wait, 30)  # the document's write has begun …
        await run_delete(w.context, WIKI)  # … the source is removed meanwhile …
        task.cancel()  # … and the worker shuts down
        done, _ = await asyncio.wait([task], timeout=0.5)
        assert not done  # the job waits for its write: it may not end while a write can still land
        held[0].go.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert held[0].landed.is_set() and await nothing_left(w)
