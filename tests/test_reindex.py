"""`lore reindex`: the index rebuilt beside the live one from the registered sources, then switched to at once
(an alias on a Qdrant server, a folder in embedded mode), while questions keep being answered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient

from bench.hash_embedder import HashEmbedder
from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.reindex import ReindexError, reindex_edge, reindex_server
from ingestion.state import FileSyncState, SyncState
from ingestion.sync import SyncEngine
from knowledge.access import Principal
from knowledge.embedding.base import Embedder
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.index.base import Index
from knowledge.index.collections import Collections
from knowledge.index.edge import EdgeIndex
from knowledge.index.server import ServerIndex
from knowledge.models import IndexedChunk
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import FileRegistry, Source
from lore.runtime import engine_over
from tests.conftest import write_pages
from tests.test_cli import lore

PAGES = {
    "holidays.md": "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n",
    "laptops.md": "# Laptops\n\nNew hires receive a laptop on their first day.\n",
}
ANYONE = Principal.anonymous()


@pytest.fixture
async def registry(tmp_path: Path) -> FileRegistry:
    """One registered files source, `wiki`, readable by everyone."""
    folder = write_pages(tmp_path / "wiki", PAGES)
    found = FileRegistry(tmp_path / "data" / "sources.json")
    await found.put(Source(id="wiki", location=[str(folder)], access=["public"]))
    return found


@pytest.fixture
async def client() -> AsyncIterator[AsyncQdrantClient]:
    """qdrant-client's local mode, standing in for a Qdrant server."""
    qdrant = AsyncQdrantClient(location=":memory:")
    yield qdrant
    await qdrant.close()


@pytest.fixture
async def live(
    settings: Settings, registry: FileRegistry, client: AsyncQdrantClient, embedder: CachedEmbedder
) -> ServerIndex:
    """The live index on the "server": `wiki` synced into the collection (an alias) `lore`."""
    index = ServerIndex(client, "lore", 384)
    await synced(settings, index, embedder, (await registry.all())[0].source)
    return index


def engines(settings: Settings, embedder: Embedder) -> object:
    def engine_for(index: Index, state: SyncState) -> SyncEngine:
        return engine_over(settings, index, embedder, ParsePool(workers=0), state)

    return engine_for


async def synced(settings: Settings, index: Index, embedder: Embedder, source: Source) -> int:
    """One normal sync of `source` with the live state; returns how many documents changed."""
    state = FileSyncState(settings.data_dir / "sync-state.sqlite")
    engine = engine_over(settings, index, embedder, ParsePool(workers=0), state)
    result = await engine.sync(source.id, FilesConnector([Path(p) for p in source.location], source.access))
    await state.close()
    return result.added + result.updated + result.deleted


class AskingWhileWriting:
    """The rebuild's new index, asking the live one a question for each document before writing it."""

    def __init__(self, index: Index, ask: Callable[[], Awaitable[None]]) -> None:
        self._index = index
        self._ask = ask

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    async def replace_documents(self, source_id: str, documents: dict[str, list[IndexedChunk]]) -> None:
        for _ in documents:
            await self._ask()
        await self._index.replace_documents(source_id, documents)


async def test_the_alias_moves_to_the_rebuilt_collection_while_answers_go_on(
    settings: Settings, registry: FileRegistry, client: AsyncQdrantClient, embedder: CachedEmbedder
) -> None:
    live = ServerIndex(client, "lore", 384)
    wiki = (await registry.all())[0].source
    assert await synced(settings, live, embedder, wiki) == 2
    kb = Knowledge(settings, live, embedder)
    before = await Collections(client, 384).resolve("lore")
    answers: list[int] = []

    async def ask() -> None:
        answers.append(len(await kb.search("paid holiday", ANYONE)))

    def engine_for(index: Index, state: SyncState) -> SyncEngine:
        return engine_over(settings, AskingWhileWriting(index, ask), embedder, ParsePool(workers=0), state)  # type: ignore[arg-type]

    await ask()
    rebuilt = await reindex_server(settings, registry, client, engine_for, keep_old=False)
    await ask()
    assert len(answers) == 4 and min(answers) > 0  # answered before, twice during, and after the rebuild
    assert await Collections(client, 384).resolve("lore") == rebuilt.built != before
    assert not await client.collection_exists(str(before)) and rebuilt.previous == before
    assert rebuilt.chunks == await live.count() == 2
    assert await synced(settings, live, embedder, wiki) == 0  # the rebuild's state is the live one now
    await kb.answerer.close()


async def test_keep_old_keeps_the_previous_collection(
    settings: Settings,
    registry: FileRegistry,
    client: AsyncQdrantClient,
    embedder: CachedEmbedder,
    live: ServerIndex,
) -> None:
    rebuilt = await reindex_server(settings, registry, client, engines(settings, embedder), keep_old=True)
    assert rebuilt.previous_kept and rebuilt.previous is not None
    assert await client.count(rebuilt.previous) == await client.count(rebuilt.built)


async def test_a_source_that_cannot_be_listed_switches_nothing(
    settings: Settings,
    registry: FileRegistry,
    client: AsyncQdrantClient,
    embedder: CachedEmbedder,
    tmp_path: Path,
    live: ServerIndex,
) -> None:
    before = await Collections(client, 384).resolve("lore")
    await registry.put(Source(id="gone", location=[str(tmp_path / "unmounted")], access=["public"]))
    with pytest.raises(ReindexError, match="listing gone failed"):
        await reindex_server(settings, registry, client, engines(settings, embedder), keep_old=False)
    assert await Collections(client, 384).resolve("lore") == before
    assert [c.name for c in (await client.get_collections()).collections] == [before]
    assert not list(settings.data_dir.glob("sync-state-*"))


async def test_a_plain_collection_of_an_older_lore_becomes_an_alias(
    settings: Settings, registry: FileRegistry, client: AsyncQdrantClient, embedder: CachedEmbedder
) -> None:
    await Collections(client, 384).create("lore")  # what Lore made before it used aliases
    live = ServerIndex(client, "lore", 384)
    await synced(settings, live, embedder, (await registry.all())[0].source)
    rebuilt = await reindex_server(settings, registry, client, engines(settings, embedder), keep_old=False)
    assert (await client.get_aliases()).aliases[0].alias_name == "lore"
    assert rebuilt.previous is None and await live.count() == 2


async def test_a_new_embedding_model_is_built_behind_its_own_alias(
    settings: Settings,
    registry: FileRegistry,
    client: AsyncQdrantClient,
    embedder: CachedEmbedder,
    tmp_path: Path,
    live: ServerIndex,
) -> None:
    newer = settings.model_copy(update={"collection": "lore-v2", "embedding_dim": 64})
    model = CachedEmbedder(HashEmbedder(64), EmbeddingCache(tmp_path / "v2.sqlite"))
    await reindex_server(newer, registry, client, engines(newer, model), keep_old=False)
    old_kb = Knowledge(settings, live, embedder)
    new_kb = Knowledge(newer, ServerIndex(client, "lore-v2", 64), model)
    for kb in (old_kb, new_kb):  # bots on either model answer, each from vectors of its own model
        assert (await kb.search("paid holiday", ANYONE))[0].doc_id == "holidays.md"
        await kb.answerer.close()
    model.cache.close()


async def test_embedded_mode_swaps_the_index_folder(
    settings: Settings, registry: FileRegistry, embedder: CachedEmbedder
) -> None:
    live = EdgeIndex(settings.index_dir, 384)
    await synced(settings, live, embedder, (await registry.all())[0].source)
    await live.close()
    rebuilt = await reindex_edge(settings, registry, engines(settings, embedder))
    reopened = EdgeIndex(settings.index_dir, 384)
    assert await reopened.count() == rebuilt.chunks == 2
    await reopened.close()
    assert rebuilt.previous is not None and (settings.data_dir / Path(rebuilt.previous).name).is_dir()


def test_lore_reindex_from_the_terminal(tmp_path: Path) -> None:
    assert lore("reindex", cwd=tmp_path).returncode == 2  # no sources: nothing to rebuild
    folder = write_pages(tmp_path / "wiki", PAGES)
    assert lore("sources", "add", "files", "wiki", str(folder), "access=public", cwd=tmp_path).returncode == 0
    run = lore("reindex", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "rebuilt 2 chunks" in run.stdout and "previous index kept" in run.stdout
    assert '"doc_id": "holidays.md"' in lore("search", "paid holiday", "--json", cwd=tmp_path).stdout
