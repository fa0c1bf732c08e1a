"""Windows through the knowledge base on both index backends: access, search, the API, the CLI, the prompt."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest

from api.queries import search as api_search
from api.schemas import SearchRequest
from knowledge.access import Principal
from knowledge.answering.citations import citation
from knowledge.answering.context import pack
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.index.edge import EdgeIndex
from knowledge.models import Chunk
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.commands import query
from tests.conftest import store_chunks

OFFICES = [
    "Berlin office: the Berlin team sits on the third floor of the Alexanderplatz building.",
    "Munich office: the Munich team shares a floor with the design studio near Marienplatz.",
    "Munich budget: the Munich office costs 2.4 million euros a year, paid from the finance reserve.",
    "Hamburg office: the Hamburg team works from the harbour building on the Elbe river.",
    "Cologne office: the Cologne team meets in the cathedral quarter every Tuesday.",
]
SECRET = 2  # this chunk of the page is for finance only
HAMBURG = "Where does the Hamburg team work?"
FINANCE = Principal.of(groups=["finance"])


async def store_offices(kb: Knowledge) -> None:
    """One page whose chunks carry two acls (as a sync never writes them, but an index may hold them)."""
    chunks = [
        Chunk(
            source_id="wiki",
            doc_id="offices.md",
            chunk_no=n,
            title="Offices",
            heading_path=["Offices"],
            text=text,
            updated_at=datetime(2026, 1, 1, tzinfo=UTC),
            acl=["group:finance"] if n == SECRET else ["public"],
        )
        for n, text in enumerate(OFFICES)
    ]
    await store_chunks(kb, chunks)


async def test_a_window_never_joins_a_neighbour_the_asker_may_not_read(kb: Knowledge) -> None:
    await store_offices(kb)
    results = await kb.search(HAMBURG, Principal.anonymous())
    assert results[0].chunk_id == (await kb.hits(HAMBURG, Principal.anonymous()))[0].chunk.id
    texts = [r.text for r in results]
    assert texts[0] == f"{OFFICES[3]}\n\n{OFFICES[4]}"  # the window stops at the chunk it may not read
    assert all("2.4 million" not in text for text in texts)
    assert "\n\n".join(OFFICES[:2]) in texts  # the chunks before the gap: their own window


async def test_the_same_page_reads_whole_for_who_may_read_it_all(kb: Knowledge) -> None:
    await store_offices(kb)
    [result] = await kb.search(HAMBURG, FINANCE)
    assert result.text == "\n\n".join(OFFICES)
    assert result.chunk_id == (await kb.hits(HAMBURG, FINANCE))[0].chunk.id


async def test_windows_off_gives_the_chunks(kb: Knowledge) -> None:
    await store_offices(kb)
    hits = await kb.retriever.search(HAMBURG, ["public"], window_tokens=0)
    assert sorted(h.text for h in hits) == [f"{OFFICES[0]}\n\n{OFFICES[1]}", f"{OFFICES[3]}\n\n{OFFICES[4]}"]
    bare = await kb.retriever.search(HAMBURG, ["public"], merge=False)  # adjacent hits joined above, not here
    assert len(bare) == kb.settings.max_chunks_per_doc and all(h.text in OFFICES for h in bare)


async def test_api_results_prompt_and_snippets_read_the_window(kb: Knowledge) -> None:
    await store_offices(kb)
    found = await api_search(kb, Principal.anonymous(), SearchRequest(query=HAMBURG))
    hits = await kb.hits(HAMBURG, Principal.anonymous())
    assert found.results[0].text == hits[0].text == f"{OFFICES[3]}\n\n{OFFICES[4]}"
    source = pack(hits, kb.settings.context_tokens).sources[0]
    assert OFFICES[4] in source.text and OFFICES[4] in source.render()
    assert "cathedral" in citation(1, hits[0], around="Which team meets in the cathedral quarter?").snippet


@pytest.mark.parametrize("as_json", [True, False])
async def test_cli_search_prints_the_window(
    settings: Settings, local_model: LocalEmbedder, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    index = EdgeIndex(settings.index_dir, 384)
    cache = EmbeddingCache(settings.data_dir / "embeddings.sqlite")
    await store_offices(Knowledge(settings, index, CachedEmbedder(local_model, cache)))
    await index.close()
    cache.close()
    args = argparse.Namespace(query="Which team meets in the cathedral quarter?", groups="", user=None, k=1)
    assert await query.search(argparse.Namespace(**vars(args), json=as_json), settings) == 0
    out = capsys.readouterr().out
    if as_json:
        assert json.loads(out)["results"][0]["text"] == f"{OFFICES[3]}\n\n{OFFICES[4]}"
    else:
        assert "Cologne team meets in the cathedral quarter" in out and "2.4 million" not in out
