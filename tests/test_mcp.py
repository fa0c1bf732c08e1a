"""`lore mcp`, run as an agent runs it (a subprocess), driven by the `mcp` package's own client."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from api.mcp_server import answer_text, search_text
from api.schemas import AnswerResponse, Citation, Result, SearchResponse
from knowledge.apikeys import open_keys
from knowledge.settings import Settings
from tests.conftest import free_port, wait_for_port, write_pages

LORE = [sys.executable, "-m", "lore.cli"]
TIMEOUT = 120  # seconds: each server loads the embedding model first
HOLIDAYS = "# Holidays\n\nEveryone gets 25 days of paid holiday a year.\n"
LAPTOPS = "# Laptops\n\nNew hires receive a laptop on their first day.\n"
PAYROLL = "# Payroll calendar\n\nSalaries are paid on the 27th of every month, by bank transfer.\n"
FINANCE_ONLY = ("Payroll calendar", "27th", "payroll.md", "bank transfer")


def cite(n: int, title: str) -> Citation:
    url = f"https://wiki/{n}"
    return Citation(n=n, doc_id=f"{n}.md", source="wiki", title=title, url=url, snippet="…", score=0.5)


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (AnswerResponse(answer="No.", mode="no_answer", citations=[]), "No."),
        (
            AnswerResponse(answer="25 days [1].", mode="extractive", citations=[cite(1, "Holidays")]),
            "25 days [1].\n\nSources:\n[1] Holidays — https://wiki/1",
        ),
        (
            AnswerResponse(answer="A [1] B [2]", mode="generative", citations=[cite(1, "A"), cite(2, "B")]),
            "A [1] B [2]\n\nSources:\n[1] A — https://wiki/1\n[2] B — https://wiki/2",
        ),
        (
            AnswerResponse(answer="x", mode="no_answer", citations=[], skipped=["remote"]),
            "x\n\nNot included (did not answer in time): remote",
        ),
        (
            AnswerResponse(
                answer="C [1]", mode="generative", citations=[cite(1, "C")], looked_up=["CFO", "D"]
            ),
            "C [1]\n\nSources:\n[1] C — https://wiki/1\n\nAlso looked up: CFO; D",
        ),
    ],
)
def test_answer_text_lists_the_sources_after_the_answer(response: AnswerResponse, text: str) -> None:
    assert answer_text(response) == text


def test_search_text_numbers_results_and_says_when_nothing_is_visible() -> None:
    hit = Result(
        doc_id="a.md", chunk_id="a#0", source="wiki", title="A", url="u", text="one\n two", score=0.5
    )
    assert (
        search_text(SearchResponse(results=[hit])) == "[1] A — u\n    source wiki, score 0.500\n    one two"
    )
    assert search_text(SearchResponse(results=[])) == "Nothing found in what this key may read."


def lore_env(data: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without LORE_/SLACK_ variables, on `data`, plus `extra`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    return {**clean, "LORE_DATA_DIR": str(data), **extra}


def run_lore(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LORE, *args],
        cwd=home,
        env=lore_env(home / "data", **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def settings_of(home: Path) -> Settings:
    return Settings(data_dir=home / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the handbook (public) and the payroll page (group:finance), ingested by the CLI."""
    home = tmp_path_factory.mktemp("mcp")
    write_pages(home / "handbook", {"holidays.md": HOLIDAYS, "laptops.md": LAPTOPS})
    write_pages(home / "finance", {"payroll.md": PAYROLL})
    for folder, access in (("handbook", "public"), ("finance", "group:finance")):
        run = run_lore(home, "ingest", str(home / folder), "--source", folder, "--access", access)
        assert run.returncode == 0, run.stderr
    return home


@pytest.fixture(scope="module")
def keys(home: Path) -> dict[str, str]:
    """Two API keys in the data dir's key file: public only, and finance."""

    async def create() -> dict[str, str]:
        with pytest.MonkeyPatch.context() as env:
            for name in [n for n in os.environ if n.startswith(("LORE_", "SLACK_"))]:
                env.delenv(name)
            api_keys = open_keys(settings_of(home))
            _, public = await api_keys.create("agent-public", [], 0, "test")
            _, finance = await api_keys.create("agent-finance", ["group:finance"], 0, "test")
        return {"public": public, "finance": finance}

    return asyncio.run(create())


@asynccontextmanager
async def stdio_session(home: Path, key: str, **env: str) -> AsyncIterator[ClientSession]:
    """An initialized client session with `lore mcp` on stdio, started with LORE_MCP_KEY=`key` (and `env`)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "lore.cli", "mcp"],
        env=lore_env(home / "data", LORE_MCP_KEY=key, **env),
        cwd=home,
    )
    with (home / "stdio.log").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            yield session


def everything(result: CallToolResult) -> str:
    """All a client receives from a call: the text blocks and the structured content."""
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    return "\n".join([*texts, json.dumps(result.structured_content)])


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def test_stdio_lists_both_tools_saying_results_are_limited_to_the_key(
    home: Path, keys: dict[str, str]
) -> None:
    async with stdio_session(home, keys["public"]) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"search_knowledge", "answer_question"}
    assert all("may read" in (tool.description or "") for tool in tools.values())
    assert all(tool.output_schema for tool in tools.values())


async def test_stdio_public_key_never_sees_the_finance_page(home: Path, keys: dict[str, str]) -> None:
    async with stdio_session(home, keys["public"]) as session:
        found = await session.call_tool("search_knowledge", {"query": "When are salaries paid?", "k": 10})
        holiday = await session.call_tool("search_knowledge", {"query": "paid holiday days"})
        answer = await session.call_tool("answer_question", {"question": "On which day are salaries paid?"})
    assert not found.is_error and not answer.is_error
    assert {r["source"] for r in found.structured_content["results"]} <= {"handbook"}
    assert "holidays.md" in [r["doc_id"] for r in holiday.structured_content["results"]]
    assert "Holidays — " in text_of(holiday)
    for result in (found, holiday, answer):
        assert not any(secret in everything(result) for secret in FINANCE_ONLY)


async def test_stdio_finance_key_gets_payroll_with_citations(home: Path, keys: dict[str, str]) -> None:
    async with stdio_session(home, keys["finance"]) as session:
        found = await session.call_tool("search_knowledge", {"query": "When are salaries paid?", "k": 2})
        answer = await session.call_tool("answer_question", {"question": "On which day are salaries paid?"})
    assert found.structured_content["results"][0]["doc_id"] == "payroll.md"
    assert "27th" in found.structured_content["results"][0]["text"]
    cited = answer.structured_content["citations"]
    assert "Payroll calendar" in [c["title"] for c in cited]
    assert "[1]" in answer.structured_content["answer"]
    assert "\nSources:\n[1] " in text_of(answer) and "Payroll calendar — " in text_of(answer)


INVALID = [
    ("search_knowledge", {"query": "   "}, "query of 1 to 2000 characters"),
    ("search_knowledge", {"query": "holidays", "k": 0}, "k between 1 and 50"),
    ("search_knowledge", {"query": "holidays", "k": 51}, "k between 1 and 50"),
    ("answer_question", {"question": ""}, "question of 1 to 2000 characters"),
]


async def test_invalid_arguments_are_a_tool_error_saying_how_to_fix_them(
    home: Path, keys: dict[str, str]
) -> None:
    async with stdio_session(home, keys["public"]) as session:
        results = [(await session.call_tool(tool, arguments), fix) for tool, arguments, fix in INVALID]
        still = await session.call_tool("search_knowledge", {"query": "holidays", "k": 1})
    for result, fix in results:
        assert result.is_error
        assert fix in text_of(result)
    assert not still.is_error


async def test_revoked_key_stops_answering_and_cannot_start_again(home: Path) -> None:
    api_keys = open_keys(settings_of(home))
    _, key = await api_keys.create("agent-temporary", [], 0, "test")
    async with stdio_session(home, key) as session:
        before = await session.call_tool("search_knowledge", {"query": "holidays"})
        await api_keys.revoke("agent-temporary")
        after = await session.call_tool("search_knowledge", {"query": "holidays"})
    assert not before.is_error
    assert after.is_error and "revoked" in text_of(after)
    run = run_lore(home, "mcp", LORE_MCP_KEY=key)
    assert run.returncode == 2
    assert "not an active API key" in run.stderr and "lore apikey" in run.stderr


@pytest.mark.parametrize("key", ["", "lore_0123456789ab_notarealkeynotarealkey"])
def test_missing_or_unknown_key_exits_2_with_the_fix(home: Path, key: str) -> None:
    run = run_lore(home, "mcp", LORE_MCP_KEY=key)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "LORE_MCP_KEY" in run.stderr and "lore apikey create NAME --access" in run.stderr


def test_stdio_sigterm_ends_cleanly(home: Path, keys: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [*LORE, "mcp"],
        cwd=home,
        env=lore_env(home / "data", LORE_MCP_KEY=keys["public"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    proc.stdin.write(json.dumps(hello).encode() + b"\n")
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())  # the server is up and reading stdin
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert reply["id"] == 1
    proc.stdin.close()
    proc.stdout.close()


# ----- streamable HTTP: a copy of the data dir, so the server may run while other tests use the original


@pytest.fixture(scope="module")
def http_url(home: Path, keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`lore mcp --http` with the finance key, on a free port; yields its MCP endpoint."""
    data = tmp_path_factory.mktemp("mcp-http") / "data"
    shutil.copytree(home / "data", data)
    port = free_port()
    with (data.parent / "http.log").open("w") as log:
        proc = subprocess.Popen(
            [*LORE, "mcp", "--http", "--port", str(port)],
            cwd=data.parent,
            env=lore_env(data, LORE_MCP_KEY=keys["finance"]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            wait_for_port(port, proc, timeout=TIMEOUT)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0  # SIGTERM ends it cleanly


async def test_http_session_with_the_bearer_calls_both_tools(http_url: str, keys: dict[str, str]) -> None:
    bearer = {"Authorization": f"Bearer {keys['finance']}"}
    async with (
        httpx2.AsyncClient(headers=bearer, timeout=httpx2.Timeout(30, read=TIMEOUT)) as http,
        streamable_http_client(http_url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
    ):
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        found = await session.call_tool("search_knowledge", {"query": "When are salaries paid?", "k": 1})
        answer = await session.call_tool("answer_question", {"question": "On which day are salaries paid?"})
    assert names == {"search_knowledge", "answer_question"}
    assert [r["doc_id"] for r in found.structured_content["results"]] == ["payroll.md"]
    assert "Payroll calendar" in [c["title"] for c in answer.structured_content["citations"]]
    assert "Sources:" in text_of(answer)


@pytest.mark.parametrize("authorization", [None, "Bearer lore_0123456789ab_wrongwrongwrongwrong", "Basic x"])
async def test_http_without_the_right_bearer_is_401(http_url: str, authorization: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization is not None:
        headers["Authorization"] = authorization
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx2.AsyncClient(timeout=30) as http:
        response = await http.post(http_url, json=ping, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["message"]
