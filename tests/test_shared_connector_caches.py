"""The connectors' caches shared across hosts: two workers with their own data dirs on one Redis (and one
index: an in-process Qdrant, as in tests/test_shared_state.py, since no server binary exists here) sync a
real MediaWiki in turn, the second listing it from the first one's cache; and a second host whose shared web
cache names pages it never read downloads them when it fetches them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from qdrant_client import AsyncQdrantClient

from ingestion.connectors.base import DocumentRef
from ingestion.connectors.cache import connector_cache
from ingestion.connectors.mediawiki import CACHE_FILE
from ingestion.connectors.web import WebConnector
from ingestion.source_jobs import WorkerContext, run_delete
from ingestion.worker import run_worker
from knowledge import keys
from knowledge.access import PUBLIC, Principal
from knowledge.embedding.local import LocalEmbedder
from knowledge.hosts import HostGuard
from knowledge.index.server import ServerIndex
from knowledge.jobs import JobRequest
from knowledge.jobs_arq import ArqJobs
from knowledge.service import Knowledge
from knowledge.sources import Source
from tests.conftest import flushed_redis
from tests.mediawiki_server import Wiki, running_wiki
from tests.nginx_server import Site, copy_docs, nginx_site
from tests.test_shared_state import shared_settings, worker_on

PAGES = {
    "Expenses": "Expenses are reimbursed within 30 days of approval.\n",
    "Travel": "Book flights through the travel desk at least two weeks ahead.\n",
    "Leave": "Parental leave is sixteen weeks, fully paid.\n",
}
WALKS = "generator=allpages"  # a full listing of the wiki
CHANGES = "rcstart="  # the recent changes since a listing: an incremental one
LOOPBACK: dict[str, object] = {"allowed_internal_hosts": ["127.0.0.1"]}  # where the test servers listen


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wiki]:
    with running_wiki(tmp_path_factory.mktemp("mediawiki")) as running:
        asyncio.run(running.write(PAGES))
        yield running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    copy_docs(tmp / "www" / "docs", ["index.html", "intro.html", "faq.html"])
    with nginx_site(tmp / "www", tmp / "nginx") as running:
        yield running


async def synced_by(worker: WorkerContext, jobs: ArqJobs, redis_url: str) -> None:
    await jobs.request_sync(JobRequest(source_id="wiki"))
    await run_worker(worker, redis_url, burst=True, handle_signals=False)
    record = await worker.registry.get("wiki")
    assert record is not None and record.status.ok, record


async def test_a_second_worker_lists_the_wiki_from_the_first_ones_cache(
    wiki: Wiki, redis_url: str, tmp_path: Path, local_model: LocalEmbedder
) -> None:
    store = await flushed_redis(redis_url)
    wiki_source = Source(id="wiki", kind="mediawiki", location=[wiki.api], access=[PUBLIC], added_by="U1")
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(index.close)
        stack.push_async_callback(store.close)
        a, a_model = await worker_on(stack, tmp_path / "a", redis_url, index, local_model, **LOOPBACK)
        b, b_model = await worker_on(stack, tmp_path / "b", redis_url, index, local_model, **LOOPBACK)
        jobs = await ArqJobs.open(redis_url)
        stack.push_async_callback(jobs.close)
        await a.registry.put(wiki_source)
        walks, changes = wiki.requests(WALKS), wiki.requests(CHANGES)
        await synced_by(a, jobs, redis_url)
        assert wiki.requests(WALKS) == walks + 1 and wiki.requests(CHANGES) == changes  # A: a full listing
        stored = await index.count("wiki")
        assert stored >= 4 and a_model.texts_embedded == stored  # the Main Page and ours, a chunk each

        await wiki.write({"Travel": "Book trains for trips under four hours.\n"})
        await wiki.delete("Leave")
        await synced_by(b, jobs, redis_url)
        assert wiki.requests(WALKS) == walks + 1  # B walked nothing: it brought A's listing up to date …
        assert wiki.requests(CHANGES) == changes + 1  # … from the recent changes since A listed
        assert b_model.texts_embedded == 1  # only the edited page, though B's own embedding cache is empty
        assert await index.count("wiki") == stored - 1  # B removed the deleted page A had indexed
        kb = Knowledge(b.settings, index, b_model)
        stack.push_async_callback(kb.answerer.close)
        anyone = Principal(grants={PUBLIC})
        assert all("Parental leave" not in h.chunk.text for h in await kb.hits("parental leave", anyone))
        assert "trains" in (await kb.hits("booking trains for trips", anyone))[0].chunk.text
        for host in ("a", "b"):  # the listing lives in Redis, not on either host
            assert not (tmp_path / host / "connectors" / "wiki" / CACHE_FILE).exists()

        await run_delete(a, JobRequest(source_id="wiki"))
        assert await store.hgetall(keys.connector_cache("wiki")) == {}  # removed with the source
        await b.registry.put(wiki_source)  # the same id again: it never sees the old source's listing
        await synced_by(b, jobs, redis_url)
        assert wiki.requests(WALKS) == walks + 2 and await index.count("wiki") == stored - 1


async def listed(connector: WebConnector) -> list[DocumentRef]:
    return [ref async for ref in connector.list_documents()]


async def test_a_host_fetches_a_page_again_when_the_shared_cache_names_a_body_it_never_read(
    site: Site, redis_url: str, tmp_path: Path
) -> None:
    await (await flushed_redis(redis_url)).close()

    def on(host: str) -> WebConnector:
        cache = connector_cache("docs", shared_settings(tmp_path / host, redis_url))
        return WebConnector(
            [site.url("docs/")], [PUBLIC], cache=cache, retries=0, guard=HostGuard(["127.0.0.1"])
        )

    a, b = on("a"), on("b")
    read_by_a = await listed(a)
    before = len(site.requests("/docs/"))
    assert await listed(b) == read_by_a
    asked = site.requests("/docs/")[before:]
    assert {urlsplit(ref.url).path for ref in read_by_a} <= {r.path for r in asked if r.status == 304}
    assert 200 not in {r.status for r in asked}  # B asked with A's validators: nothing was downloaded

    (intro,) = [ref for ref in read_by_a if ref.doc_id == "intro.html"]
    on_b = (await b.fetch(intro, tmp_path)).read_text(encoding="utf-8")
    fetched = site.requests("/docs/")[before + len(asked) :]
    assert [(r.status, r.path) for r in fetched] == [(200, "/docs/intro.html")]  # B had no body: downloaded
    on_a = (await a.fetch(intro, tmp_path)).read_text(encoding="utf-8")
    assert len(site.requests("/docs/")) == before + len(asked) + 1  # A had read it: no request
    assert on_b == on_a and "Introduction" in on_b  # the same page's main content, never another's
