"""A local OpenAI-compatible chat server for tests: scripted replies over real HTTP on a free port.

    async with LLMStandin(replies=["Travel is booked in Navan [1]."]) as llm:
        settings = Settings(llm_base_url=llm.base_url, ...)
        ...
        assert llm.requests[0]["messages"][0]["role"] == "system"

`POST /v1/chat/completions` answers with JSON, or with SSE chunks ending in `data: [DONE]` when the request
says `"stream": true`. Failure modes: `status` (e.g. 500, 401) answers every request with that HTTP error,
`hang` never answers (for timeouts), `drop_after` closes the connection after that many streamed chunks.

Requests that plan a second search (their system prompt is `knowledge.answering.lookups.SYSTEM`) are a task
of their own, the way a model does each task it is asked: they get the `plans` replies in order (the last one
repeats; by default "NONE", no second search) and are kept in `plan_requests`, apart from `requests`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from knowledge.answering.lookups import SYSTEM as PLAN_SYSTEM
from tests.conftest import free_port

MODEL = "standin-1"


def dead_url() -> str:
    """An OpenAI-style base URL where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/v1"


def pieces(text: str, size: int) -> list[str]:
    """`text` cut into pieces of `size` characters, the way tokens trickle in."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class LLMStandin:
    """The stand-in server. Replies are used in order, one per request; the last one repeats."""

    def __init__(
        self,
        replies: list[str | list[str]] | None = None,
        *,
        status: int | None = None,
        hang: bool = False,
        drop_after: int | None = None,
        piece_size: int = 3,
        plans: list[str] | None = None,
    ) -> None:
        self.replies: list[str | list[str]] = list(replies or [""])
        self.plans = list(plans or ["NONE"])
        self.plan_requests: list[dict[str, Any]] = []
        self.status = status
        self.hang = hang
        self.drop_after = drop_after
        self.piece_size = piece_size  # small pieces split markers across deltas, as real streams do
        self.requests: list[dict[str, Any]] = []
        self.received = asyncio.Event()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns the base URL (ending in /v1)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        return self.base_url

    async def close(self) -> None:
        """Release hanging requests and stop the server."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LLMStandin:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _next_reply(self) -> list[str]:
        reply = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        return pieces(reply, self.piece_size) if isinstance(reply, str) else list(reply)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        planning = body["messages"][0]["content"] == PLAN_SYSTEM
        kept = self.plan_requests if planning else self.requests
        kept.append({**body, "authorization": request.headers.get("Authorization", "")})
        self.received.set()
        if self.hang:
            await self._release.wait()
        if self.status is not None:
            error = {"message": f"stand-in error {self.status}", "type": "standin_error", "code": None}
            return web.json_response({"error": error}, status=self.status)
        if planning:
            plan = self.plans[min(len(self.plan_requests), len(self.plans)) - 1]
            return web.json_response(completion(plan))
        parts = self._next_reply()
        if body.get("stream"):
            return await self._stream(request, parts)
        return web.json_response(completion("".join(parts)))

    async def _stream(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        for i, part in enumerate(parts):
            if self.drop_after is not None and i >= self.drop_after:
                assert request.transport is not None
                request.transport.abort()  # the connection dies mid-answer, no [DONE]
                return response
            await response.write(sse(chunk(part, first=i == 0)))
        await response.write(sse(chunk("", finish="stop")))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def sse(data: dict[str, Any]) -> bytes:
    """One server-sent event line."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def chunk(content: str, *, first: bool = False, finish: str | None = None) -> dict[str, Any]:
    """A `chat.completion.chunk` carrying `content`."""
    delta: dict[str, Any] = {"content": content} if content or not finish else {}
    if first:
        delta["role"] = "assistant"
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completion(content: str) -> dict[str, Any]:
    """A non-streamed `chat.completion` whose message is `content`."""
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
