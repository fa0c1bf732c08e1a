"""A federated question is never federated again: two real Lore APIs, each a `lore-remote` of the other. A
question to one returns the other's document (so the other answered), and the other does not ask back (the
`X-Lore-Hop` header): each API serves exactly the requests counted here, no loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.federation import HOP_HEADER, Federation
from knowledge.hosts import HostGuard
from knowledge.index.server import ServerIndex
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Credentials, FileRegistry, Source
from lore.runtime import sync_engine
from tests.api_harness import ApiHarness, serving_api
from tests.conftest import write_pages

ALPHA = {"ferries.md": "# Ferries\n\nThe Wexlo ferry to the island office leaves at 7:40 every weekday.\n"}
BETA = {"badges.md": "# Badges\n\nLost Quombat badges are replaced by the front desk within a day.\n"}
SEARCH = "/v1/search"


async def deployment(name: str, pages: dict[str, str], root: Path, embedder: CachedEmbedder) -> Knowledge:
    """A Lore named `name` holding `pages` (public), whose registry may name remotes."""
    settings = Settings(data_dir=root / name, _env_file=None)  # type: ignore[call-arg]
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    registry = FileRegistry(root / name / "sources.json")
    federation = Federation(registry, 10.0, guard=HostGuard(["127.0.0.1"]))
    kb = Knowledge(settings, index, embedder, federation)
    state = FileSyncState(root / f"{name}-state.sqlite")
    docs = FilesConnector([write_pages(root / f"{name}-pages", pages)], ["public"])
    await sync_engine(kb, ParsePool(workers=0), state).sync(f"{name}-docs", docs)
    await state.close()
    return kb


async def remote_of(kb: Knowledge, name: str, there: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `there` a lore-remote of `kb`, with a key created there."""
    env = f"LORE_SECRET_{name.upper()}"
    monkeypatch.setenv(env, await there.key(f"federation-{name}", []))
    assert kb.federation is not None
    remote = Source(
        id=name, kind="lore-remote", location=[there.url], access=["public"], credentials=Credentials(env=env)
    )
    await kb.federation.registry.put(remote)


@pytest.fixture
async def pair(
    tmp_path: Path,
    local_model: LocalEmbedder,
    shared_vectors: EmbeddingCache,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[ApiHarness, ApiHarness]]:
    """Alpha and Beta served over HTTP, each configured as the other's remote."""
    embedder = CachedEmbedder(local_model, shared_vectors)
    alpha = await deployment("alpha", ALPHA, tmp_path, embedder)
    beta = await deployment("beta", BETA, tmp_path, embedder)
    async with serving_api(alpha, alpha.settings) as a, serving_api(beta, beta.settings) as b:
        await remote_of(alpha, "beta", b, monkeypatch)
        await remote_of(beta, "alpha", a, monkeypatch)
        yield a, b
    for kb in (alpha, beta):  # not `kb.close()`: the embedding cache is the whole run's
        assert kb.federation is not None
        await kb.federation.close()
        await kb.answerer.close()
        await kb.index.close()


async def test_a_federated_question_is_answered_by_the_remote_without_asking_back(
    pair: tuple[ApiHarness, ApiHarness],
) -> None:
    a, b = pair
    status, body = await a.post(
        SEARCH, {"query": "How are lost Quombat badges replaced?"}, await a.key("c", [])
    )
    assert status == 200 and body["skipped"] == []
    found = [(r["source"], r["doc_id"]) for r in body["results"]]
    assert found[0] == ("beta", "beta-docs/badges.md")  # Beta's document: Beta answered
    assert a.served == [SEARCH] and b.served == [SEARCH]  # one question, one federated hop, no loop


async def test_each_side_federates_its_own_callers_questions(pair: tuple[ApiHarness, ApiHarness]) -> None:
    """The positive control: Beta does ask Alpha, when the question comes from Beta's own caller."""
    a, b = pair
    _, body = await b.post(SEARCH, {"query": "When does the Wexlo ferry leave?"}, await b.key("c", []))
    assert ("alpha", "alpha-docs/ferries.md") in [(r["source"], r["doc_id"]) for r in body["results"]]
    assert b.served == [SEARCH] and a.served == [SEARCH]


@pytest.mark.parametrize(
    ("path", "body"), [(SEARCH, {"query": "ferry"}), ("/v1/answer", {"question": "ferry?"})]
)
async def test_a_question_carrying_the_hop_header_searches_only_the_local_index(
    pair: tuple[ApiHarness, ApiHarness], path: str, body: dict[str, str]
) -> None:
    a, b = pair
    status, answered = await b.post(path, body, await b.key("c", []), headers={HOP_HEADER: "1"})
    assert status == 200 and "alpha" not in str(answered)
    assert a.served == []
