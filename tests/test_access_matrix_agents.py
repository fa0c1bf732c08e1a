"""The permission matrix for agents: `lore mcp` over stdio and over streamable HTTP (run as agents run it,
a subprocess), and a federated remote Lore, against the principals they know (a member, a non-member, an
agent's public key, a revoked member, and a valid key of another principal), each with an allowed twin and
with the text sent to the LLM checked."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from qdrant_client import AsyncQdrantClient

from knowledge.access import Principal
from knowledge.apikeys import open_keys
from knowledge.embedding.cache import CachedEmbedder
from knowledge.federation import Federation
from knowledge.hosts import HostGuard
from knowledge.index.server import ServerIndex
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Credentials, FileRegistry, Source
from tests.access_world import QUESTION, REPLY, leaked, sent_to_llm, text_of, write_directory
from tests.api_harness import ApiHarness, serving_api
from tests.conftest import free_port
from tests.llm_standin import MODEL, LLMStandin
from tests.test_access_matrix_programs import home
from tests.test_bounds_mcp import mcp_http
from tests.test_mcp import TIMEOUT, lore_env, stdio_session

__all__ = ["home"]  # the CLI-ingested data dir, shared with the programs' matrix
GRANTS = {
    "member": ["group:finance"],
    "non-member": ["group:sales"],
    "agent": [],
    "dora": ["user:dora@example.com"],
}
ALLOWED = {"member", "dora"}


@pytest.fixture(scope="module")
def agent_keys(home: Path) -> dict[str, str]:
    """One API key per principal, in the data dir's key file."""

    async def create() -> dict[str, str]:
        settings = Settings(data_dir=home / "data", _env_file=None)  # type: ignore[call-arg]
        api_keys = open_keys(settings)
        return {
            name: (await api_keys.create(f"matrix-{name}", grants, 0, "test"))[1]
            for name, grants in GRANTS.items()
        }

    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("LORE_", "SLACK_"))]:
            env.delenv(name)
        return asyncio.run(create())


@pytest.fixture
async def llm() -> AsyncIterator[LLMStandin]:
    async with LLMStandin(replies=[REPLY]) as standin:
        yield standin


def mcp_env(llm: LLMStandin, directory: Path) -> dict[str, str]:
    return {"LORE_LLM_BASE_URL": llm.base_url, "LORE_LLM_MODEL": MODEL, "LORE_DIRECTORY_FILE": str(directory)}


async def both_tools(session: ClientSession) -> str:
    """What a client receives from a search and an answer."""
    found = await session.call_tool("search_knowledge", {"query": QUESTION})
    answer = await session.call_tool("answer_question", {"question": QUESTION})
    assert not found.is_error and not answer.is_error
    return text_of([found.structured_content, answer.structured_content])


@pytest.mark.parametrize("principal", sorted(GRANTS))
async def test_mcp_over_stdio_answers_as_its_key_may_read(
    home: Path, agent_keys: dict[str, str], llm: LLMStandin, tmp_path: Path, principal: str
) -> None:
    directory = write_directory(tmp_path / "directory.yml")
    async with stdio_session(home, agent_keys[principal], **mcp_env(llm, directory)) as session:
        received = await both_tools(session)
    allowed = principal in ALLOWED
    assert leaked(received) == allowed and leaked(sent_to_llm(llm)) == allowed


async def test_mcp_follows_a_revocation_without_a_restart(
    home: Path, agent_keys: dict[str, str], llm: LLMStandin, tmp_path: Path
) -> None:
    directory = write_directory(tmp_path / "directory.yml")
    async with stdio_session(home, agent_keys["dora"], **mcp_env(llm, directory)) as session:
        assert leaked(await both_tools(session))
        llm.requests.clear()
        write_directory(directory, dora=False)
        assert not leaked(await both_tools(session)) and not leaked(sent_to_llm(llm))


async def test_mcp_over_http_refuses_a_valid_key_of_another_principal(
    home: Path, agent_keys: dict[str, str], llm: LLMStandin, tmp_path: Path
) -> None:
    env = lore_env(
        home / "data", LORE_MCP_KEY=agent_keys["member"], **mcp_env(llm, write_directory(tmp_path / "d.yml"))
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with mcp_http(home / "data", env, port):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {agent_keys['agent']}"}) as other:
            refused = await other.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401 and not leaked(refused.text)
        bearer = {"Authorization": f"Bearer {agent_keys['member']}"}
        async with (
            httpx2.AsyncClient(headers=bearer, timeout=httpx2.Timeout(30, read=TIMEOUT)) as own,
            streamable_http_client(url, http_client=own) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            assert leaked(await both_tools(session))  # the server's own key reads finance


# ----- a federated remote


@pytest.fixture
async def remote(loaded_kb: Knowledge, settings: Settings) -> AsyncIterator[ApiHarness]:
    """Another Lore holding the handbook (public) and the payroll page (group:finance)."""
    async with serving_api(loaded_kb, settings) as api:
        yield api


async def local_lore(
    settings: Settings,
    llm: LLMStandin,
    remote: ApiHarness,
    remote_grants: list[str],
    embedder: CachedEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> Knowledge:
    """A Lore with nothing of its own and `remote` as a lore-remote source that group:finance may use here,
    asking with a key that holds `remote_grants` there."""
    monkeypatch.setenv("LORE_SECRET_MATRIX_REMOTE", await remote.key("federation", remote_grants))
    registry = FileRegistry(settings.data_dir / "local-sources.json")
    source = Source(
        id="remote",
        kind="lore-remote",
        location=[remote.url],
        access=["group:finance"],
        credentials=Credentials(env="LORE_SECRET_MATRIX_REMOTE"),
    )
    await registry.put(source)
    tuned = Settings(**(settings.model_dump() | {"llm_base_url": llm.base_url, "llm_model": MODEL}))
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    federation = Federation(registry, 10.0, guard=HostGuard(["127.0.0.1"]))
    return Knowledge(tuned, index, embedder, federation)


@pytest.mark.parametrize(
    ("asker", "remote_grants", "sees"),
    [
        (Principal.of(groups=["finance"]), ["group:finance"], True),  # the positive control
        (Principal.anonymous(), ["group:finance"], False),  # may not use the remote at all
        (Principal.of(groups=["sales"]), ["group:finance"], False),
        (Principal.of(groups=["finance"]), [], False),  # the remote's own access holds too
    ],
)
async def test_a_federated_remote_answers_as_both_sides_allow(
    settings: Settings,
    llm: LLMStandin,
    remote: ApiHarness,
    embedder: CachedEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    asker: Principal,
    remote_grants: list[str],
    sees: bool,
) -> None:
    kb = await local_lore(settings, llm, remote, remote_grants, embedder, monkeypatch)
    try:
        answer = await kb.ask(QUESTION, asker)
        found = await kb.search(QUESTION, asker)
    finally:  # not `kb.close()`: the embedder is the fixture's
        assert kb.federation is not None
        await kb.federation.close()
        await kb.answerer.close()
        await kb.index.close()
    assert leaked(text_of([answer.model_dump(mode="json"), [r.model_dump() for r in found]])) == sees
    assert leaked(sent_to_llm(llm)) == sees
    asked = "/v1/search" in remote.served
    assert asked == asker.can_read(["group:finance"])  # the remote is asked only for who may use it
