"""Lore over MCP: `search_knowledge` and `answer_question` for AI agents, as the principal of one API key.

`lore mcp` runs it over stdio (the agent starts it) or streamable HTTP (the agent connects to it). A server
answers as one fixed key, so over HTTP every request must carry that key as a bearer token: reaching the
port is not enough to read what the key may read. Every tool call is admitted like a Knowledge API request:
the key must still be active, and the call counts against the key's per-minute rate in the shared store.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any, TypeVar

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api import queries
from api.auth import Refusal
from api.schemas import MAX_QUESTION, AnswerRequest, AnswerResponse, SearchRequest, SearchResponse
from knowledge.answering.llm import LLMError
from knowledge.apikeys import ApiKey
from knowledge.embedding.base import EmbeddingError
from knowledge.index.base import IndexUnavailable
from knowledge.kv.base import StoreUnavailable
from knowledge.service import Knowledge

log = logging.getLogger(__name__)

SERVER_NAME = "lore"
MCP_PATH = "/mcp"  # where the streamable HTTP endpoint listens
MAX_K = 50  # as `SearchRequest.k`
SNIPPET = 600  # characters of a search result's text in the readable form
SHUTDOWN_GRACE = 5  # seconds open HTTP streams get to finish on SIGTERM

UNAVAILABLE = (IndexUnavailable, EmbeddingError, StoreUnavailable, LLMError, TimeoutError)
ACCESS_NOTE = (
    "Results are limited to what this server's Lore API key may read: documents it may not read are "
    "never returned, so 'nothing found' can also mean 'not visible to this key'."
)
SEARCH_HELP = (
    "Search Lore's knowledge base (the team's wiki and file shares) and return the best matching passages, "
    "each with its title, URL and source. Use it to find documents or facts to quote. " + ACCESS_NOTE
)
ANSWER_HELP = (
    "Ask Lore a question and get a short answer written from the knowledge base, with [n] markers that "
    "refer to the numbered sources listed after it (title and URL). Cite those sources when you use "
    "the answer. " + ACCESS_NOTE
)
INSTRUCTIONS = (
    "Lore answers from a company's wiki and file shares. Use search_knowledge to find passages and "
    "answer_question for a cited answer. " + ACCESS_NOTE
)
_FIXES = {
    "query": f"give a query of 1 to {MAX_QUESTION} characters that is not only spaces",
    "question": f"ask a question of 1 to {MAX_QUESTION} characters that is not only spaces",
    "k": f"give k between 1 and {MAX_K}, or leave it out for the server's default",
}
Admit = Callable[[], Awaitable[ApiKey | Refusal]]  # one call of the server's key: admitted, or why not
# Bounds are advertised in the schema and checked by `SearchRequest`/`AnswerRequest`, whose errors say how
# to fix the call (the SDK's own check would answer with pydantic's text).
_TEXT = {"minLength": 1, "maxLength": MAX_QUESTION}
Query = Annotated[str, Field(description="What to look for, in words.", json_schema_extra=_TEXT)]
TopK = Annotated[
    int | None,
    Field(
        description=f"Number of results, 1 to {MAX_K} (default: the server's).",
        json_schema_extra={"minimum": 1, "maximum": MAX_K},
    ),
]
Question = Annotated[str, Field(description="The question, as a full sentence.", json_schema_extra=_TEXT)]
_Request = TypeVar("_Request", bound=BaseModel)
_T = TypeVar("_T")


def _valid(model: type[_Request], **fields: object) -> _Request:
    """The request, or a `ToolError` naming each bad argument and how to fix it."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        names = sorted({str(e["loc"][0]) if e["loc"] else "arguments" for e in exc.errors()})
        raise ToolError(
            "Invalid arguments: " + "; ".join(f"{n}: {_FIXES.get(n, 'check this argument')}" for n in names)
        ) from None


def search_text(response: SearchResponse) -> str:
    """The search results as text an agent reads: numbered, with title, URL, source and passage."""
    if not response.results:
        lines = ["Nothing found in what this key may read."]
    else:
        lines = []
        for n, r in enumerate(response.results, 1):
            text = " ".join(r.text.split())
            snippet = text[:SNIPPET] + ("…" if len(text) > SNIPPET else "")
            lines += [
                f"[{n}] {r.title} — {r.url}",
                f"    source {r.source}, score {r.score:.3f}",
                f"    {snippet}",
            ]
    return "\n".join(lines + _skipped(response.skipped))


def answer_text(response: AnswerResponse) -> str:
    """The answer followed by its numbered sources, so an agent reading only text keeps the citations."""
    lines = [response.answer.strip()]
    if response.citations:
        lines += ["", "Sources:"] + [f"[{c.n}] {c.title} — {c.url}" for c in response.citations]
    looked_up = ["", "Also looked up: " + "; ".join(response.looked_up)] if response.looked_up else []
    return "\n".join(lines + looked_up + _skipped(response.skipped))


def _skipped(sources: list[str]) -> list[str]:
    if not sources:
        return []
    return ["", "Not included (did not answer in time): " + ", ".join(sources)]


def _result(response: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=response.model_dump(mode="json")
    )


def build_mcp(kb: Knowledge, key: ApiKey, admit: Admit | None = None) -> MCPServer[Any]:
    """An MCP server whose tools search and answer from `kb` as `key`'s principal.

    `admit`, when given, is asked before every call (as `api.auth.Gate.admit` admits an HTTP request), and
    the key it returns is the one the call answers as (its grants widened by the directory file as it is
    now): a key revoked since the server started, or a call over the key's rate limit, gets a tool error
    that says what to do instead of an answer.
    """
    server: MCPServer[Any] = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    async def current() -> ApiKey:
        """The key as admitted for this call: its grants as the directory says now."""
        verdict = key if admit is None else await admit()
        if not isinstance(verdict, Refusal):
            return verdict
        if verdict.status == 429:
            raise ToolError(
                f"Rate limit reached: {verdict.message} (the limit counts this key's Knowledge API and MCP "
                f"calls together). Retry in {verdict.retry_after or 60} seconds."
            )
        raise ToolError(
            "This server's API key was revoked: ask a Lore admin for a new key "
            "(`lore apikey create NAME --access …`) and restart `lore mcp` with it in LORE_MCP_KEY."
        )

    async def search_knowledge(query: Query, k: TopK = None) -> Annotated[CallToolResult, SearchResponse]:
        request = _valid(SearchRequest, query=query, k=k)
        admitted = await _unavailable_as_tool_error(current())
        response = await _unavailable_as_tool_error(queries.search(kb, admitted.principal, request))
        return _result(response, search_text(response))

    async def answer_question(question: Question) -> Annotated[CallToolResult, AnswerResponse]:
        request = _valid(AnswerRequest, question=question)
        admitted = await _unavailable_as_tool_error(current())
        response = await _unavailable_as_tool_error(queries.answer(kb, admitted.principal, request))
        return _result(response, answer_text(response))

    server.add_tool(search_knowledge, description=SEARCH_HELP, annotations=read_only)
    server.add_tool(answer_question, description=ANSWER_HELP, annotations=read_only)
    return server


async def _unavailable_as_tool_error(work: Awaitable[_T]) -> _T:
    try:
        return await work
    except UNAVAILABLE as exc:
        log.warning("MCP tool call: Lore is unavailable: %s", exc)
        raise ToolError(
            "Lore cannot answer right now (its index, embedding model or LLM is unavailable); try again "
            "shortly. The server's log says which service failed."
        ) from None


# ----- stdio


class _StdinLines(anyio.AsyncFile[str]):
    """The lines of stdin, read from its file descriptor by a daemon thread.

    anyio's own reader thread cannot be abandoned, so SIGTERM would wait for the client's next line; a
    daemon thread can be left blocked in `os.read` (not in `sys.stdin`, whose lock would abort shutdown).
    """

    def __init__(self) -> None:
        super().__init__(sys.stdin)

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[bytes] = asyncio.Queue()
        fd = sys.stdin.fileno()

        def pump() -> None:
            pending = b""
            with suppress(RuntimeError, OSError):  # RuntimeError: the loop closed, nobody is listening
                while chunk := os.read(fd, 65536):
                    *complete, pending = (pending + chunk).split(b"\n")
                    for line in complete:
                        loop.call_soon_threadsafe(lines.put_nowait, line + b"\n")
                loop.call_soon_threadsafe(lines.put_nowait, pending)  # the last line, or b"" = EOF
                if pending:
                    loop.call_soon_threadsafe(lines.put_nowait, b"")

        threading.Thread(target=pump, name="mcp-stdin", daemon=True).start()
        while line := await lines.get():
            yield line.decode("utf-8", errors="replace")


async def serve_stdio(server: MCPServer[Any], stop: asyncio.Event) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin or `stop` is set.

    While serving, fd 1 points at stderr (the SDK's doing), so a stray print cannot corrupt the protocol.
    """

    async def run() -> None:
        # The SDK's `run_stdio_async` reads stdin in a thread a signal cannot stop; same server, our reader.
        lowlevel = server._lowlevel_server
        async with stdio_server(stdin=_StdinLines()) as (read, write):
            await lowlevel.run(read, write, lowlevel.create_initialization_options())

    await _until(run(), stop)


async def _until(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Run `work` until it ends or `stop` is set (then cancel it and wait for it)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


# ----- streamable HTTP


class BearerGate:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <key>`, else 401."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._expected = key.encode("utf-8")

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await JSONResponse(
            {
                "error": "unauthorized",
                "message": "Send `Authorization: Bearer <key>` with the API key this MCP server was started "
                "with (its LORE_MCP_KEY).",
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="lore"'},
        )(scope, receive, send)


def http_app(server: MCPServer[Any], key: str, host: str = "127.0.0.1") -> ASGIApp:
    """The streamable HTTP app at `/mcp`, behind the bearer check (`host` picks DNS-rebinding rules)."""
    return BearerGate(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), key)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (uvicorn starts listening on it); `OSError` when the port is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: `lore mcp` owns SIGTERM and Ctrl-C."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(server: MCPServer[Any], key: str, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve streamable HTTP on `sock` until `stop` is set, then let open requests finish (bounded)."""
    host = str(sock.getsockname()[0])
    config = uvicorn.Config(
        http_app(server, key, host),
        log_config=None,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    runner = _Uvicorn(config)
    serving = asyncio.ensure_future(runner.serve(sockets=[sock]))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        runner.should_exit = True
        await serving
