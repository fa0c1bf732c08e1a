"""The Knowledge API served over real HTTP on a free loopback port, with API keys in a file and a store
that counts each key's rate.

    async with serving_api(kb, settings, store) as api:
        key = await api.key("agent", ["group:finance"])
        status, body = await api.post("/v1/search", {"query": "payroll"}, key)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from api.auth import Gate
from api.server import Handler, KnowledgeApi
from knowledge.apikeys import ApiKeys, FileRecords
from knowledge.directory import DirectoryFile
from knowledge.kv.base import KeyValue
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.conftest import free_port


@dataclass
class ApiHarness:
    """A running API and what tests need to call it."""

    url: str
    keys: ApiKeys
    http: aiohttp.ClientSession
    served: list[str]  # the paths of every request, in order

    async def key(self, name: str, grants: list[str], rate: int = 0) -> str:
        """A new API key with these grants (beyond public) and rate limit (0 = none)."""
        _, key = await self.keys.create(name, grants, rate, "test")
        return key

    async def post(
        self, path: str, body: Any, key: str | None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """POST `body` (JSON, or raw bytes); the status and the parsed JSON reply."""
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(self.url + path, data=data, headers=sent) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def events_with_accept(self, path: str, body: Any, key: str) -> list[tuple[str, Any]]:
        """Ask for server-sent events with `Accept: text/event-stream` instead of `stream: true`."""
        return await self.events(path, body, key, {"Accept": "text/event-stream"})

    async def events(
        self, path: str, body: Any, key: str, extra: dict[str, str] | None = None
    ) -> list[tuple[str, Any]]:
        """POST and read the server-sent events as (event, parsed data)."""
        headers = {"Authorization": f"Bearer {key}", **(extra or {})}
        async with self.http.post(self.url + path, json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert response.headers["Content-Type"].startswith("text/event-stream")
            raw = await response.text()
        found = []
        for block in raw.strip().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            found.append((fields["event"], json.loads(fields["data"])))
        return found


@asynccontextmanager
async def serving_api(
    kb: Knowledge, settings: Settings, store: KeyValue | None = None, directory: DirectoryFile | None = None
) -> AsyncIterator[ApiHarness]:
    """The API over `kb` on a free port until the block ends (keys holding `user:` also hold their groups in
    `directory`)."""
    store = store or MemoryStore()
    keys = ApiKeys(FileRecords(settings.data_dir / "apikeys.json"))
    served: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        served.append(request.path)
        return await handler(request)

    app = KnowledgeApi(kb, Gate(keys, store, directory), settings).app()
    app.middlewares.insert(0, record)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield ApiHarness(f"http://127.0.0.1:{port}", keys, http, served)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def silent_lore(asked: list[float] | None = None) -> AsyncIterator[str]:
    """A "Lore" whose `/v1/search` takes requests and never answers them; yields its base URL. The time of
    each request is appended to `asked`."""

    async def hang(request: web.Request) -> web.Response:
        if asked is not None:
            asked.append(time.monotonic())
        await asyncio.Event().wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/search", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # its requests never end: do not wait for them
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
