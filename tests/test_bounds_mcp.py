"""MCP honours its API key's rate: every tool call, over stdio and over streamable HTTP, counts against the
key's per-minute limit in the shared store, the same count the Knowledge API's gate keeps; over the limit a
call gets a tool error that says when to retry."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2
import pytest
import redis.asyncio as aioredis
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from api.auth import WINDOW, Gate
from knowledge import keys
from knowledge.apikeys import ApiKey, open_keys
from knowledge.settings import Settings
from tests.conftest import flushed_redis, free_port, wait_for_port, write_pages
from tests.test_cli import lore
from tests.test_mcp import LORE, TIMEOUT, lore_env, text_of

RATE = 3


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding one public page, ingested by the CLI."""
    home = tmp_path_factory.mktemp("mcp-rate")
    write_pages(home / "handbook", {"holidays.md": "# Holidays\n\nEveryone gets 25 days of paid holiday.\n"})
    run = lore("ingest", "handbook", "--source", "handbook", "--access", "public", cwd=home)
    assert run.returncode == 0, run.stderr
    return home / "data"


def copy_of(data: Path, where: Path) -> Path:
    """A copy of the data dir: an embedded index is held by one process at a time."""
    shutil.copytree(data, where)
    return where


@asynccontextmanager
async def over_stdio(data: Path, env: dict[str, str]) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "lore.cli", "mcp"], env=env, cwd=data.parent
    )
    with (data.parent / "stdio.log").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            yield session


@contextmanager
def mcp_http(data: Path, env: dict[str, str], port: int) -> Iterator[None]:
    """`lore mcp --http` on `port` until the block ends."""
    with (data.parent / "http.log").open("w") as log:
        command = [*LORE, "mcp", "--http", "--port", str(port)]
        proc = subprocess.Popen(
            command, cwd=data.parent, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            wait_for_port(port, proc, timeout=TIMEOUT)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@asynccontextmanager
async def over_http(data: Path, env: dict[str, str], secret: str) -> AsyncIterator[ClientSession]:
    port = free_port()
    bearer = {"Authorization": f"Bearer {secret}"}
    with mcp_http(data, env, port):
        async with (
            httpx2.AsyncClient(headers=bearer, timeout=httpx2.Timeout(30, read=TIMEOUT)) as http,
            streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            yield session


async def search(session: ClientSession) -> CallToolResult:
    return await session.call_tool("search_knowledge", {"query": "paid holiday", "k": 1})


async def counted(redis_url: str, key: ApiKey) -> int:
    """The key's requests counted in the shared store, over the windows of the last minutes."""
    raw = aioredis.Redis.from_url(redis_url)
    now = int(time.time() // WINDOW)
    values = [await raw.get(keys.api_rate(key.id, w)) for w in range(now - 5, now + 1)]
    await raw.aclose()
    return sum(int(v) for v in values if v)


async def used_up(redis_url: str, key: ApiKey) -> None:
    """The key's whole rate used, this minute and the next two (as if by other clients of the key)."""
    raw = aioredis.Redis.from_url(redis_url)
    now = int(time.time() // WINDOW)
    for window in range(now, now + 3):
        await raw.set(keys.api_rate(key.id, window), RATE, ex=4 * WINDOW)
    await raw.aclose()


async def test_mcp_calls_count_against_the_keys_rate_over_both_transports(
    indexed: Path, redis_url: str, tmp_path: Path
) -> None:
    store = await flushed_redis(redis_url)
    settings = Settings(data_dir=indexed, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    api_keys = open_keys(settings, store)
    key, secret = await api_keys.create("agent", [], RATE, "test")
    env = {"LORE_REDIS_URL": redis_url, "LORE_MCP_KEY": secret}
    stdio_data, http_data = copy_of(indexed, tmp_path / "stdio"), copy_of(indexed, tmp_path / "http")
    async with (
        over_stdio(stdio_data, lore_env(stdio_data, **env)) as by_stdio,
        over_http(http_data, lore_env(http_data, **env), secret) as by_http,
    ):
        answered = [await search(by_stdio), await search(by_http)]
        assert not any(r.is_error for r in answered) and "Holidays" in text_of(answered[0])
        api = await Gate(api_keys, store).admit(f"Bearer {secret}")  # the Knowledge API's own gate
        assert await counted(redis_url, key) == 3  # MCP over both transports and the API: one count
        assert isinstance(api, ApiKey)
        await used_up(redis_url, key)
        refused = [await search(by_stdio), await search(by_http)]
    await store.close()
    for result in refused:
        assert result.is_error
        assert "Rate limit reached" in text_of(result) and "Retry in" in text_of(result)
        assert f"{RATE} requests a minute" in text_of(result)
