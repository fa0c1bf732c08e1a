"""The sync state shared in Redis: two workers with their own data dirs (own embedding caches, no state file)
on one Redis and one index sync one source in turn; and the state kept by one host before is adopted once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.state import STATE_FILE, DocState, FileSyncState, SharedSyncState, open_sync_state
from ingestion.sync import SyncEngine
from ingestion.worker import WorkerContext, run_worker
from knowledge.access import PUBLIC, Principal
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.index.base import Index
from knowledge.index.server import ServerIndex
from knowledge.jobs import JobRequest
from knowledge.jobs_arq import ArqJobs
from knowledge.kv.base import KeyValue
from knowledge.kv.redis import RedisStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry
from lore.runtime import engine_over
from tests.conftest import flushed_redis, write_pages

QDRANT = "http://qdrant.invalid:6333"
PAGES = {
    "expenses.md": "# Expenses\n\nExpenses are reimbursed within 30 days of approval.\n",
    "travel.md": "# Travel\n\nBook flights through the travel desk at least two weeks ahead.\n",
    "leave.md": "# Leave\n\nParental leave is sixteen weeks, fully paid.\n",
}


def shared_settings(data_dir: Path, redis_url: str, **more: object) -> Settings:
    """A fleet's settings: Redis and a Qdrant server (never reached: the tests hand their index over)."""
    return Settings(  # type: ignore[call-arg]
        data_dir=data_dir, redis_url=redis_url, qdrant_url=QDRANT, _env_file=None, **more
    )


def doc(doc_id: str, version: str = "v1") -> DocState:
    return DocState(doc_id=doc_id, version=version, content_hash="h", acl=[PUBLIC], chunks=1)


async def test_the_shared_state_keeps_documents_per_source(store: KeyValue) -> None:
    state = SharedSyncState(store)
    await state.put("wiki", doc("a"))
    await state.put("wiki", doc("b"))
    await state.put("share", doc("a", "v2"))
    await state.delete("wiki", "b")
    assert set(await state.documents("wiki")) == {"a"}
    assert (await state.documents("share"))["a"].version == "v2"
    await state.delete("share")
    assert await state.sources() == ["wiki"] and await state.documents("share") == {}


@pytest.mark.parametrize("backend", ["file", "shared"])
async def test_a_group_of_documents_is_recorded_in_one_write(
    backend: str, store: KeyValue, tmp_path: Path
) -> None:
    state = FileSyncState(tmp_path / "state.sqlite") if backend == "file" else SharedSyncState(store)
    await state.put("wiki", doc("a"))
    await state.put_many("wiki", [doc("a", "v2"), doc("b"), doc("c")])
    await state.put_many("wiki", [])
    found = await state.documents("wiki")
    assert {d: s.version for d, s in found.items()} == {"a": "v2", "b": "v1", "c": "v1"}
    assert await state.sources() == ["wiki"]
    await state.close()


async def test_a_rebuilds_state_replaces_the_shared_one(store: KeyValue, tmp_path: Path) -> None:
    built = FileSyncState(tmp_path / "rebuilt.sqlite")  # what `lore reindex` filled
    await built.put("wiki", doc("a", "v2"))
    await built.close()
    state = SharedSyncState(store)
    await state.put("wiki", doc("a"))
    await state.put("gone", doc("x"))
    await state.replace_with(tmp_path / "rebuilt.sqlite")
    assert await state.sources() == ["wiki"] and (await state.documents("wiki"))["a"].version == "v2"


async def test_a_hosts_state_file_is_adopted_once(redis_url: str, tmp_path: Path) -> None:
    settings = shared_settings(tmp_path, redis_url)
    await (await flushed_redis(redis_url)).close()
    local = FileSyncState(tmp_path / STATE_FILE)  # what this host kept before the state was shared
    await local.put("wiki", doc("a"))
    await local.close()
    shared = await open_sync_state(settings)
    assert set(await shared.documents("wiki")) == {"a"}
    await shared.delete("wiki")  # the source is removed later …
    await shared.close()
    again = await open_sync_state(settings)
    assert await again.documents("wiki") == {}  # … and never comes back from the old file
    await again.close()
    assert not (tmp_path / STATE_FILE).exists() and (tmp_path / f"{STATE_FILE}.adopted").exists()


async def test_beside_an_embedded_index_the_state_stays_in_its_data_dir(
    redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    state = await open_sync_state(settings)  # Redis, but the index is this data dir's own
    await state.close()
    assert isinstance(state, FileSyncState) and (tmp_path / STATE_FILE).exists()


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_a_state_that_outlived_its_index_is_synced_afresh(
    kb: Knowledge, engine: SyncEngine, tmp_path: Path
) -> None:
    folder = write_pages(tmp_path / "wiki", PAGES)
    await engine.sync("wiki", FilesConnector([folder], [PUBLIC]))
    await kb.index.delete_source("wiki")  # the index is gone (a wiped data dir, a dropped collection) …
    result = await engine.sync("wiki", FilesConnector([folder], [PUBLIC]))
    assert result.added == 3 and await kb.index.count("wiki") == 3  # … and everything is indexed again


@pytest.fixture
async def one_index() -> AsyncIterator[Index]:
    """One index both workers write into (a Qdrant in this process: no server binary exists here)."""
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    yield index
    await index.close()


@asynccontextmanager
async def _store(url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(url)
    try:
        yield store
    finally:
        await store.close()


async def worker_on(
    stack: AsyncExitStack,
    data_dir: Path,
    redis_url: str,
    index: Index,
    model: LocalEmbedder,
    chunk_size: int = 256,
    **more: object,
) -> tuple[WorkerContext, CachedEmbedder]:
    """A worker's context with its own data dir: its own embedding cache, the shared state and registry
    (`more`: further settings)."""
    settings = shared_settings(data_dir, redis_url, chunk_size=chunk_size, chunk_overlap=0, **more)
    embedder = CachedEmbedder(model, EmbeddingCache(data_dir / "embeddings.sqlite"))
    stack.callback(embedder.cache.close)
    parser = ParsePool(workers=0, timeout=settings.parse_timeout)
    stack.push_async_callback(parser.close)
    state = await open_sync_state(settings)
    stack.push_async_callback(state.close)
    store = await stack.enter_async_context(_store(redis_url))
    engine = engine_over(settings, index, embedder, parser, state)
    return WorkerContext(settings=settings, engine=engine, registry=StoreRegistry(store)), embedder


async def test_a_second_worker_resyncs_only_what_changed_and_prunes_what_went(
    redis_url: str, tmp_path: Path, one_index: Index, local_model: LocalEmbedder
) -> None:
    await (await flushed_redis(redis_url)).close()
    folder = write_pages(tmp_path / "wiki", PAGES)
    async with AsyncExitStack() as stack:
        a, a_model = await worker_on(stack, tmp_path / "a", redis_url, one_index, local_model)
        b, b_model = await worker_on(stack, tmp_path / "b", redis_url, one_index, local_model)
        await a.registry.put(Source(id="wiki", location=[str(folder)], access=[PUBLIC], added_by="U1"))
        jobs = await ArqJobs.open(redis_url)
        stack.push_async_callback(jobs.close)
        await jobs.request_sync(JobRequest(source_id="wiki"))
        await run_worker(a, redis_url, burst=True, handle_signals=False)
        assert a_model.texts_embedded == 3 and await one_index.count("wiki") == 3
        (folder / "travel.md").write_text("# Travel\n\nBook trains for trips under four hours.\n")
        (folder / "leave.md").unlink()
        await jobs.request_sync(JobRequest(source_id="wiki"))
        await run_worker(b, redis_url, burst=True, handle_signals=False)
        assert b_model.texts_embedded == 1  # only the changed page, though B's own cache is empty
        kb = Knowledge(b.settings, one_index, b_model)
        stack.push_async_callback(kb.answerer.close)
        hits = await kb.hits("parental leave weeks", Principal(grants={PUBLIC}))
        assert all(h.chunk.doc_id != "leave.md" for h in hits)  # B pruned what A had indexed
        assert {h.chunk.doc_id for h in await kb.hits("trains for trips", Principal(grants={PUBLIC}))} >= {
            "travel.md"
        }  # the control: what is there is found
        assert await one_index.count("wiki") == 2


async def test_a_changed_page_re_embeds_only_its_changed_chunks_on_another_worker(
    redis_url: str, tmp_path: Path, one_index: Index, local_model: LocalEmbedder
) -> None:
    await (await flushed_redis(redis_url)).close()
    meals = (
        "Meals on business trips are paid up to 75 euros a day, with receipts sent in Navan within a month."
    )
    hotels = "Hotels on business trips are paid up to {} euros a night, booked through the travel desk only."
    sections = [f"## Meals\n\n{meals}", f"## Hotels\n\n{hotels.format(200)}"]
    folder = write_pages(tmp_path / "wiki", {"travel.md": "# Travel\n\n" + "\n\n".join(sections) + "\n"})
    async with AsyncExitStack() as stack:
        a, a_model = await worker_on(stack, tmp_path / "a", redis_url, one_index, local_model, 32)
        b, b_model = await worker_on(stack, tmp_path / "b", redis_url, one_index, local_model, 32)
        await a.registry.put(Source(id="wiki", location=[str(folder)], access=[PUBLIC], added_by="U1"))
        jobs = await ArqJobs.open(redis_url)
        stack.push_async_callback(jobs.close)
        await jobs.request_sync(JobRequest(source_id="wiki"))
        await run_worker(a, redis_url, burst=True, handle_signals=False)
        assert a_model.texts_embedded == 2 == await one_index.count("wiki")  # a chunk per section
        sections[1] = f"## Hotels\n\n{hotels.format(180)}"
        (folder / "travel.md").write_text("# Travel\n\n" + "\n\n".join(sections) + "\n")
        await jobs.request_sync(JobRequest(source_id="wiki"))
        await run_worker(b, redis_url, burst=True, handle_signals=False)
        assert b_model.texts_embedded == 1  # the meals chunk's vector came from the index
        kb = Knowledge(b.settings, one_index, b_model)
        stack.push_async_callback(kb.answerer.close)
        hits = await kb.hits("hotel price per night", Principal(grants={PUBLIC}))
        assert "180 euros" in hits[0].chunk.text and await one_index.count("wiki") == 2


async def test_a_page_copied_into_another_source_is_not_embedded_again_on_another_worker(
    redis_url: str, tmp_path: Path, one_index: Index, local_model: LocalEmbedder
) -> None:
    await (await flushed_redis(redis_url)).close()
    folder = write_pages(tmp_path / "wiki", PAGES)
    async with AsyncExitStack() as stack:
        a, a_model = await worker_on(stack, tmp_path / "a", redis_url, one_index, local_model)
        b, b_model = await worker_on(stack, tmp_path / "b", redis_url, one_index, local_model)
        await a.registry.put(Source(id="wiki", location=[str(folder)], access=[PUBLIC], added_by="U1"))
        jobs = await ArqJobs.open(redis_url)
        stack.push_async_callback(jobs.close)
        await jobs.request_sync(JobRequest(source_id="wiki"))
        await run_worker(a, redis_url, burst=True, handle_signals=False)
        assert a_model.texts_embedded == 3
        copy = write_pages(tmp_path / "hr", {"leave.md": PAGES["leave.md"]})
        await b.registry.put(Source(id="hr", location=[str(copy)], access=["group:hr"], added_by="U1"))
        await jobs.request_sync(JobRequest(source_id="hr"))
        await run_worker(b, redis_url, burst=True, handle_signals=False)
        assert (b_model.texts_embedded, b_model.calls) == (0, 0)  # B's cache is empty: A's vector is used
        kb = Knowledge(b.settings, one_index, b_model)
        stack.push_async_callback(kb.answerer.close)
        hits = await kb.hits("parental leave weeks", Principal(grants={"group:hr"}))
        assert (hits[0].chunk.source_id, hits[0].chunk.doc_id) == ("hr", "leave.md")  # found by its vector
        assert await one_index.count("hr") == 1  # the copy is indexed under its own access …
        assert await one_index.count("hr", [PUBLIC]) == 0  # … which the public does not hold


@pytest.mark.parametrize("kb", ["edge", "server"], indirect=True)
async def test_stored_vectors_come_back_by_the_text_the_model_saw(
    kb: Knowledge, engine: SyncEngine, tmp_path: Path
) -> None:
    folder = write_pages(tmp_path / "wiki", PAGES)
    await engine.sync("wiki", FilesConnector([folder], [PUBLIC]))
    (travel,) = [d for d in await engine.state.documents("wiki") if d.endswith("travel.md")]
    (chunk,) = await kb.index.document_chunks("wiki", travel, [PUBLIC])
    vectors = await kb.index.stored_vectors("wiki", travel, [chunk.embedding_text(), "not stored"])
    (fresh,) = await kb.embedder.embed_passages([chunk.embedding_text()])
    assert list(vectors) == [chunk.embedding_text()]
    assert max(abs(x - y) for x, y in zip(vectors[chunk.embedding_text()], fresh, strict=True)) < 1e-5
