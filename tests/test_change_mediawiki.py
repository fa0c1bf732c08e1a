"""Access first on a real MediaWiki: the admin narrows a namespace in the registry while a page of it is
edited into something Lore cannot fetch (past the size limit); a real search shows its old text to the
narrowed group only, and the new text replaces it, still narrowed, once it can be fetched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from tests.change_harness import found, synced, world
from tests.mediawiki_server import Wiki, running_wiki
from tests.test_connector_mediawiki import wiki_source

PAGES = {
    "Holidays": "Everyone gets 25 days of paid holiday per year.\n",
    "Project:Door codes": "The archive door code is 9182.\n",
}
PUBLIC, STAFF = ["public"], ["public", "group:staff"]


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wiki]:
    with running_wiki(tmp_path_factory.mktemp("mediawiki")) as running:
        asyncio.run(running.write(PAGES))
        yield running


async def test_a_namespace_narrowed_while_its_page_cannot_be_fetched_keeps_the_old_text_for_staff_only(
    wiki: Wiki, settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    doors = f"page/{await wiki.page_id('Project:Door codes')}"
    async with world(settings.model_copy(update={"max_file_mb": 0.02}), embedder, tmp_path) as w:
        await w.registry.put(wiki_source(wiki.api, overrides={}))
        assert (await synced(w, "wiki")).ok
        assert "9182" in (await found(w, "archive door code", PUBLIC))[doors]

        await w.registry.put(wiki_source(wiki.api))  # namespace 4 narrowed to staff …
        await wiki.write({"Project:Door codes": "The archive door code is 9182.\n" + "Keep it safe. " * 3000})
        status = await synced(w, "wiki")  # … while its new text is past the size limit

        assert status.failed == 1 and status.errors[0].startswith(f"{doors}: file too large")
        assert doors not in await found(w, "archive door code", PUBLIC)
        assert "9182" in (await found(w, "archive door code", STAFF))[doors]
        assert "page/" in "".join(await found(w, "paid holiday", PUBLIC))  # Holidays stays public

        await wiki.write({"Project:Door codes": "The archive door code is 5521 since June.\n"})
        assert (await synced(w, "wiki")).ok
        assert "5521" in (await found(w, "archive door code", STAFF))[doors]
        assert doors not in await found(w, "archive door code", PUBLIC)
