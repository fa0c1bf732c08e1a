"""The permission matrix for programs: the Knowledge API (`/v1/search`, `/v1/answer`) and the terminal
(`lore search`, `lore ask`), against every kind of principal they know (anonymous, a member, a non-member,
a revoked member, an agent's own key), each with an allowed twin, and with the text sent to the LLM checked.
Slack's kinds of people (guests, other workspaces, bots) do not reach these surfaces: a program is whoever
its key or its flags say. MCP and federation have their matrix in tests/test_access_matrix_agents.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knowledge.directory import DirectoryFile
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.access_world import QUESTION, REPLY, leaked, sent_to_llm, text_of, write_directory
from tests.api_harness import ApiHarness, serving_api
from tests.bot_harness import FINANCE_DOC, PUBLIC_DOCS
from tests.llm_standin import MODEL, LLMStandin
from tests.test_cli import lore, lore_async

KEYS = {  # principal -> the grants of its API key (beyond public)
    "member": ["group:finance"],
    "non-member": ["group:sales"],
    "agent": [],
    "dora": ["user:dora@example.com"],  # finance through the directory file, until revoked
}
ALLOWED = {"member", "dora"}


@pytest.fixture
async def llm() -> AsyncIterator[LLMStandin]:
    async with LLMStandin(replies=[REPLY]) as standin:
        yield standin


@pytest.fixture
async def api(
    loaded_kb: Knowledge, settings: Settings, llm: LLMStandin, tmp_path: Path
) -> AsyncIterator[ApiHarness]:
    tuned = Settings(**(settings.model_dump() | {"llm_base_url": llm.base_url, "llm_model": MODEL}))
    kb = Knowledge(tuned, loaded_kb.index, loaded_kb.embedder)
    directory = DirectoryFile(write_directory(tmp_path / "directory.yml"))
    async with serving_api(kb, tuned, directory=directory) as harness:
        yield harness
    await kb.answerer.close()


async def search_and_answer(api: ApiHarness, key: str | None) -> tuple[int, str]:
    """Both endpoints with `key`; (the worse status, everything they returned)."""
    found = await api.post("/v1/search", {"query": QUESTION}, key)
    answered = await api.post("/v1/answer", {"question": QUESTION}, key)
    return max(found[0], answered[0]), text_of([found[1], answered[1]])


async def test_the_api_refuses_the_anonymous(api: ApiHarness, llm: LLMStandin) -> None:
    status, body = await search_and_answer(api, None)
    assert status == 401 and not leaked(body) and llm.requests == []


@pytest.mark.parametrize("principal", sorted(KEYS))
async def test_the_api_answers_as_the_key_may_read(api: ApiHarness, llm: LLMStandin, principal: str) -> None:
    status, body = await search_and_answer(api, await api.key(principal, KEYS[principal]))
    allowed = principal in ALLOWED
    assert status == 200 and leaked(body) == allowed and leaked(sent_to_llm(llm)) == allowed


async def test_a_key_of_a_revoked_member_reads_less_at_once(
    api: ApiHarness, llm: LLMStandin, tmp_path: Path
) -> None:
    key = await api.key("dora", KEYS["dora"])
    assert leaked((await search_and_answer(api, key))[1])
    llm.requests.clear()
    write_directory(tmp_path / "directory.yml", dora=False)
    status, body = await search_and_answer(api, key)
    assert status == 200 and not leaked(body) and not leaked(sent_to_llm(llm))


# ----- the terminal


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the handbook (public) and the payroll page (group:finance), ingested by the CLI."""
    home = tmp_path_factory.mktemp("matrix")
    for folder, pages in (("handbook", PUBLIC_DOCS), ("finance", dict([FINANCE_DOC]))):
        (home / folder).mkdir()
        for name, text in pages.items():
            (home / folder / name).write_text(text, encoding="utf-8")
    for folder, access in (("handbook", "public"), ("finance", "group:finance")):
        run = lore("ingest", folder, "--source", folder, "--access", access, cwd=home)
        assert run.returncode == 0, run.stderr
    return home


CLI = {  # principal -> its flags
    "anonymous": [],
    "member": ["--groups", "finance"],
    "non-member": ["--groups", "sales", "--user", "bob@example.com"],
    "dora": ["--user", "dora@example.com"],
}


async def ask_in_terminal(home: Path, flags: list[str], directory: Path, llm: LLMStandin) -> str:
    """`lore search` and `lore ask` with `flags`; everything they printed."""
    env = {"LORE_DIRECTORY_FILE": str(directory), "LORE_LLM_BASE_URL": llm.base_url, "LORE_LLM_MODEL": MODEL}
    printed = []
    for command in ("search", "ask"):
        code, out = await lore_async(command, QUESTION, "--json", *flags, cwd=home, **env)
        assert code == 0, out
        printed.append(json.loads(out))
    return text_of(printed)


@pytest.mark.parametrize("principal", sorted(CLI))
async def test_the_terminal_answers_as_its_flags_may_read(
    home: Path, llm: LLMStandin, tmp_path: Path, principal: str
) -> None:
    printed = await ask_in_terminal(home, CLI[principal], write_directory(tmp_path / "d.yml"), llm)
    allowed = principal in ALLOWED
    assert leaked(printed) == allowed and leaked(sent_to_llm(llm)) == allowed


async def test_the_terminal_reads_the_directory_as_it_is_now(
    home: Path, llm: LLMStandin, tmp_path: Path
) -> None:
    directory = write_directory(tmp_path / "d.yml", dora=False)
    printed = await ask_in_terminal(home, CLI["dora"], directory, llm)
    assert not leaked(printed) and not leaked(sent_to_llm(llm))
