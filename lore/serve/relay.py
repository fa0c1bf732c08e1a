"""The server side of the control endpoint: runs a terminal command, relays its streams over a WebSocket."""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ValidationError

from lore.commands.host import Terminal
from lore.serve.protocol import PATH, PING, Command, Exit, Line, Output, Pong, ReadLine

log = logging.getLogger(__name__)

Run = Callable[[list[str], Terminal], Awaitable[int]]  # a command line, run with this terminal: its exit code
FIRST_MESSAGE = 10.0  # seconds a client has to send its command line


class RelayStream(io.StringIO):
    """A text stream whose writes go to the terminal at the other end (in order, from any thread: rich's
    progress bar writes from its own). `tty` and `width` describe that terminal."""

    def __init__(
        self,
        stream: Literal["out", "err"],
        send: Callable[[BaseModel], None],
        *,
        tty: bool,
        width: int | None,
    ) -> None:
        super().__init__()
        self.stream: Literal["out", "err"] = stream
        self._send = send
        self.tty = tty
        self.width = width

    def write(self, text: str) -> int:
        if text:
            self._send(Output(stream=self.stream, text=text))
        return len(text)

    def isatty(self) -> bool:
        return self.tty


class ControlServer:
    """`GET /control` (a WebSocket: one command per connection) and `GET /control/ping`, both only with
    `Authorization: Bearer <token>`."""

    def __init__(self, token: str, run: Run) -> None:
        self._token = token
        self._run = run

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PATH, self._command)
        app.router.add_get(PING, self._ping)
        return app

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode())

    async def _ping(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            raise web.HTTPUnauthorized(text="the token of LORE_DATA_DIR/serve.json is required")
        return web.json_response(Pong(pid=os.getpid()).model_dump())

    async def _command(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            raise web.HTTPUnauthorized(text="the token of LORE_DATA_DIR/serve.json is required")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            command = Command.model_validate_json(await ws.receive_str(timeout=FIRST_MESSAGE))
        except (ValidationError, TypeError, TimeoutError) as exc:
            await ws.close(message=f"expected the command line first ({exc})".encode()[:120])
            return ws
        await _Session(ws, command).run(self._run)
        return ws


class _Session:
    """One command over one WebSocket: its output out, its input lines in, its exit code last."""

    def __init__(self, ws: web.WebSocketResponse, command: Command) -> None:
        self.ws = ws
        self.command = command
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.outbox: asyncio.Queue[BaseModel | None] = asyncio.Queue()
        self.lines: asyncio.Queue[str] = asyncio.Queue()

    @property
    def name(self) -> str:
        """The subcommand (the first word that is not an option)."""
        return next((word for word in self.command.argv if not word.startswith("-")), "?")

    def send(self, message: BaseModel) -> None:
        if threading.get_ident() == self.thread:
            self.outbox.put_nowait(message)
        else:
            self.loop.call_soon_threadsafe(self.outbox.put_nowait, message)

    async def readline(self) -> str:
        self.send(ReadLine())
        return await self.lines.get()

    def terminal(self) -> Terminal:
        c = self.command
        return Terminal(
            out=RelayStream("out", self.send, tty=False, width=c.width),
            err=RelayStream("err", self.send, tty=c.tty, width=c.width),
            cwd=Path(c.cwd),
            readline=self.readline,
        )

    async def run(self, run: Run) -> None:
        sender = asyncio.create_task(self._pump())
        receiver = asyncio.create_task(self._receive())
        work = asyncio.create_task(self._guarded(run))
        await asyncio.wait({work, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():  # the terminal went away (Ctrl-C): stop the command
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            sender.cancel()
        else:
            self.send(Exit(code=work.result()))
            self.send_end()
            await asyncio.gather(sender, return_exceptions=True)
            receiver.cancel()
        await self.ws.close()

    def send_end(self) -> None:
        self.outbox.put_nowait(None)

    async def _guarded(self, run: Run) -> int:
        terminal = self.terminal()
        try:
            code = await run(self.command.argv, terminal)
        except SystemExit as exc:  # argparse: the client parsed the same line, so only a version skew
            return exc.code if isinstance(exc.code, int) else 2
        except Exception:
            log.exception("`lore %s` failed inside lore serve", self.name)
            print("lore: the command failed inside `lore serve`: see its log", file=terminal.err)
            return 1
        log.info("ran `lore %s` for a terminal: exit code %d", self.name, code)  # never its words
        return code

    async def _pump(self) -> None:
        while (message := await self.outbox.get()) is not None:
            await self.ws.send_str(message.model_dump_json())

    async def _receive(self) -> None:
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                self.lines.put_nowait(Line.model_validate_json(message.data).line)
            except ValidationError:
                log.warning("ignoring a control message that is not a line of input")
