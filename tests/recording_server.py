"""A small HTTP server for tests that watch what Lore sends where: it answers from a route table and
records every request (method, path, headers, body).

    async with RecordingServer("127.0.0.2") as other:
        other.route("/api.php", lambda request: json_reply({"ok": True}))
        ...
        assert all("Authorization" not in seen.headers for seen in other.seen)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.conftest import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """Serves on `host` (any loopback address) and a free port until closed; unknown paths answer 404."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self.routes: dict[str, Handler] = {}
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def sent_anything(self, *needles: str) -> bool:
        """True when any request's headers or body contain one of `needles`."""
        text = "\n".join(f"{s.headers}\n{s.body.decode(errors='replace')}" for s in self.seen)
        return any(needle in text for needle in needles)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        handler = self.routes.get(request.path)
        return web.Response(status=404) if handler is None else await handler(request)

    async def __aenter__(self) -> RecordingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def json_reply(data: Any, **headers: str) -> Handler:
    """A handler answering `data` as JSON, with `headers` (e.g. Set_Cookie, written with '_')."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(data, headers={k.replace("_", "-"): v for k, v in headers.items()})

    return answer


def redirect(to: str, status: int = 302) -> Handler:
    """A handler redirecting to `to` (the query string is kept)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        query = f"?{request.query_string}" if request.query_string else ""
        return web.Response(status=status, headers={"Location": to + query})

    return answer
