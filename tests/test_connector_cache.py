"""The connectors' cache (ingestion/connectors/cache.py) on both backends: files on one host, and the shared
key-value store (in-process and a real Redis). One typed value per (source, kind); a value that cannot be
read costs a full listing (None), never a wrong one; removing a source forgets its cache on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

from ingestion.connectors.cache import ConnectorCache, FileCache, SharedCache, connector_cache
from ingestion.state import SharedSyncState, open_sync_state
from ingestion.sync import SyncEngine
from knowledge import keys
from knowledge.kv.base import KeyValue, StoreUnavailable
from knowledge.settings import Settings
from tests.conftest import flushed_redis, free_port
from tests.kv_helpers import FakeClock, open_kv
from tests.test_shared_state import shared_settings


class Listing(BaseModel):
    pages: dict[str, int]


class Other(BaseModel):
    etags: list[str]


@dataclass
class Backend:
    """A cache of source `wiki`, how to spoil its stored `kind`, and a cache of another source."""

    cache: ConnectorCache
    spoil: Callable[[str, str], Awaitable[None]]
    other: ConnectorCache


def shared(store: KeyValue, source_id: str, scratch: Path) -> SharedCache:
    return SharedCache(lambda: nullcontext(store), source_id, scratch)


@pytest.fixture(params=["file", "memory", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "file":
        files = FileCache(tmp_path / "wiki")

        async def spoil_file(kind: str, raw: str) -> None:
            files.file(kind).write_text(raw, encoding="utf-8")

        yield Backend(files, spoil_file, FileCache(tmp_path / "site"))
        return
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    store = await open_kv(request.param, FakeClock(), url)

    async def spoil_store(kind: str, raw: str) -> None:
        await store.hset(keys.connector_cache("wiki"), kind, raw)

    yield Backend(
        shared(store, "wiki", tmp_path / "wiki"), spoil_store, shared(store, "site", tmp_path / "site")
    )
    await store.close()


async def test_a_value_is_read_back_as_written_and_replaced_whole(backend: Backend) -> None:
    cache = backend.cache
    assert await cache.read("mediawiki", Listing) is None
    await cache.replace("mediawiki", Listing(pages={"1": 10, "2": 20}))
    await cache.replace("mediawiki", Listing(pages={"1": 11}))
    await cache.replace("web-pages", Other(etags=["x"]))
    assert await cache.read("mediawiki", Listing) == Listing(pages={"1": 11})
    assert await cache.read("web-pages", Other) == Other(etags=["x"])
    assert await backend.other.read("mediawiki", Listing) is None  # per source


@pytest.mark.parametrize("raw", ["{not json", '{"etags": ["x"]}', ""])
async def test_an_unreadable_value_reads_as_none(backend: Backend, raw: str) -> None:
    await backend.cache.replace("mediawiki", Listing(pages={"1": 10}))
    await backend.spoil("mediawiki", raw)
    assert await backend.cache.read("mediawiki", Listing) is None  # the next listing lists everything
    await backend.cache.replace("mediawiki", Listing(pages={"1": 12}))
    assert await backend.cache.read("mediawiki", Listing) == Listing(pages={"1": 12})


async def test_forgetting_a_source_drops_its_values_and_scratch_files_only(backend: Backend) -> None:
    await backend.cache.replace("mediawiki", Listing(pages={"1": 10}))
    await backend.other.replace("mediawiki", Listing(pages={"7": 70}))
    body = backend.cache.scratch / "pages" / "body.html"
    body.parent.mkdir(parents=True)
    body.write_text("<p>read during the listing</p>", encoding="utf-8")
    await backend.cache.forget()
    assert await backend.cache.read("mediawiki", Listing) is None and not backend.cache.scratch.exists()
    assert await backend.other.read("mediawiki", Listing) == Listing(pages={"7": 70})


async def test_an_unreachable_store_costs_a_full_listing_and_fails_the_write(tmp_path: Path) -> None:
    down = shared_settings(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    cache = connector_cache("wiki", down)
    assert await cache.read("mediawiki", Listing) is None
    with pytest.raises(StoreUnavailable, match="check LORE_REDIS_URL"):  # the sync fails, to be retried
        await cache.replace("mediawiki", Listing(pages={}))


@pytest.mark.parametrize(
    ("redis", "qdrant", "kind"),
    [(False, False, FileCache), (True, False, FileCache), (True, True, SharedCache)],
)
async def test_the_cache_is_shared_exactly_when_the_sync_state_is(
    redis_url: str, tmp_path: Path, redis: bool, qdrant: bool, kind: type[ConnectorCache]
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path,
        redis_url=redis_url if redis else None,
        qdrant_url="http://qdrant.invalid:6333" if qdrant else None,
        _env_file=None,
    )
    state = await open_sync_state(settings)
    await state.close()
    assert type(connector_cache("wiki", settings)) is kind
    assert (kind is SharedCache) == isinstance(state, SharedSyncState)


async def test_a_shared_value_written_on_one_host_is_read_on_another(redis_url: str, tmp_path: Path) -> None:
    await (await flushed_redis(redis_url)).close()
    await connector_cache("wiki", shared_settings(tmp_path / "a", redis_url)).replace(
        "mediawiki", Listing(pages={"1": 10})
    )
    on_b = connector_cache("wiki", shared_settings(tmp_path / "b", redis_url))
    assert await on_b.read("mediawiki", Listing) == Listing(pages={"1": 10})
    assert not (tmp_path / "a" / "connectors").exists()  # nothing of it on A's disk
    await on_b.forget()


async def test_a_cache_file_kept_before_the_cache_was_shared_is_dropped_at_the_next_write(
    redis_url: str, tmp_path: Path
) -> None:
    await (await flushed_redis(redis_url)).close()
    cache = connector_cache("wiki", shared_settings(tmp_path, redis_url))
    before = FileCache(cache.scratch)  # what this host kept while the cache was its own
    await before.replace("mediawiki", Listing(pages={"1": 10}))
    # never read: the source may have been removed since on another host, and this is its old listing
    assert await cache.read("mediawiki", Listing) is None
    await cache.replace("mediawiki", Listing(pages={"1": 11}))
    assert not before.file("mediawiki").exists()  # and gone once the shared one is written
    await cache.forget()


@pytest.mark.parametrize("kb", ["server"], indirect=True)
async def test_removing_a_source_forgets_its_connector_cache(engine: SyncEngine, settings: Settings) -> None:
    wiki, site = connector_cache("wiki", settings), connector_cache("site", settings)
    await wiki.replace("mediawiki", Listing(pages={"1": 10}))
    await site.replace("mediawiki", Listing(pages={"7": 70}))
    await engine.remove_source("wiki")
    assert await wiki.read("mediawiki", Listing) is None and not wiki.scratch.exists()
    assert await site.read("mediawiki", Listing) == Listing(pages={"7": 70})
