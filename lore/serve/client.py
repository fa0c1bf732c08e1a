"""The terminal side: send a command to the running `lore serve` of the data dir, relay its streams."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import aiohttp
from pydantic import TypeAdapter, ValidationError

from lore.serve.address import ControlAddress, read_address
from lore.serve.protocol import PATH, PING, Command, Exit, Line, Output, Pong, ReadLine

_REPLY: TypeAdapter[Output | ReadLine | Exit] = TypeAdapter(Output | ReadLine | Exit)
CONNECT_TIMEOUT = 5.0


class ControlRefused(RuntimeError):
    """A `lore serve` answers on the data dir's port but refuses the command; the message says why."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


async def relay(argv: list[str], data_dir: Path) -> int | None:
    """Run `lore ARGV` inside the running `lore serve` of `data_dir` and return its exit code; None when no
    `lore serve` runs there (no address, a dead process, nothing listening), so the caller runs it itself.
    `NotYours` (another user's server) and `ControlRefused` say why it can do neither."""
    address = read_address(data_dir)
    if address is None or not _alive(address.pid):
        return None
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            ws = await session.ws_connect(_url(address), headers=_auth(address), max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise ControlRefused(
                    f"the `lore serve` of {data_dir} refused the token of its serve.json: restart it"
                ) from exc
            return None  # something else listens on a stale port
        except aiohttp.ClientConnectionError:
            return None  # a stale address: the process is gone or not listening yet
        async with ws:
            return await _converse(ws, argv)


async def _converse(ws: aiohttp.ClientWebSocketResponse, argv: list[str]) -> int:
    width = shutil.get_terminal_size().columns if sys.stderr.isatty() else None
    command = Command(argv=argv, cwd=os.getcwd(), tty=sys.stderr.isatty(), width=width)
    await ws.send_str(command.model_dump_json())
    async for message in ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        try:
            reply = _REPLY.validate_json(message.data)
        except ValidationError:
            continue
        if isinstance(reply, Output):
            stream = sys.stdout if reply.stream == "out" else sys.stderr
            stream.write(reply.text)
            stream.flush()
        elif isinstance(reply, ReadLine):
            line = await asyncio.to_thread(sys.stdin.readline)
            await ws.send_str(Line(line=line).model_dump_json())
        else:
            return reply.code
    print(
        "lore: the running `lore serve` stopped before the command ended; run it again",
        file=sys.stderr,
    )
    return 1


def _url(address: ControlAddress) -> str:
    return f"http://127.0.0.1:{address.port}{PATH}"


def _auth(address: ControlAddress) -> dict[str, str]:
    return {"Authorization": f"Bearer {address.token}"}


async def running(data_dir: Path) -> int | None:
    """The pid of the `lore serve` answering on `data_dir`'s address; None when none answers."""
    address = read_address(data_dir)
    if address is None or not _alive(address.pid):
        return None
    timeout = aiohttp.ClientTimeout(total=CONNECT_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{address.port}{PING}", headers=_auth(address)) as response,
        ):
            if response.status != 200:
                return None
            return Pong.model_validate_json(await response.read()).pid
    except (aiohttp.ClientError, TimeoutError, ValidationError):
        return None
