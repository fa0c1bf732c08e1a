"""`lore mcp`: Lore's knowledge for AI agents over MCP (stdio, or streamable HTTP with `--http`).

The server answers as one API key, LORE_MCP_KEY: its principal decides what the agent may read. In stdio
mode stdout carries the protocol only; everything else goes to stderr. In embedded mode the on-disk index is
held by one process at a time, like `lore api` (`lore serve` runs MCP over HTTP beside the bot and the API).
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import AsyncExitStack

from api.auth import Gate
from api.mcp_server import MCP_PATH, bind, build_mcp, serve_http, serve_stdio
from knowledge.apikeys import ApiKey, open_keys
from knowledge.directory import DirectoryFile
from knowledge.kv.factory import open_store
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.commands.signals import stop_on_signals

log = logging.getLogger(__name__)

MISSING_KEY = (
    "lore mcp: set LORE_MCP_KEY to an API key (create one with `lore apikey create NAME --access …`)"
)
INACTIVE_KEY = (
    "lore mcp: LORE_MCP_KEY is not an active API key (unknown, mistyped or revoked): `lore apikey list` "
    "shows the keys; create one with `lore apikey create NAME --access …`"
)


async def mcp(args: argparse.Namespace, settings: Settings) -> int:
    """Serve `search_knowledge` and `answer_question` as LORE_MCP_KEY until the client leaves or SIGTERM."""
    secret = settings.mcp_key.get_secret_value().strip() if settings.mcp_key else ""
    if not secret:
        print(MISSING_KEY, file=sys.stderr)
        return 2
    stop = stop_on_signals()
    async with AsyncExitStack() as stack:
        gate = _gate(settings, stack)
        key = await gate.api_keys.verify(secret)
        if key is None:
            print(INACTIVE_KEY, file=sys.stderr)
            return 2
        sock = None
        port = args.port or settings.mcp_port
        if args.http:  # before the model loads: a taken port fails at once
            try:
                sock = stack.enter_context(bind(args.host, port))
            except OSError as exc:
                where = f"{args.host}:{port}"
                print(f"lore mcp: cannot listen on {where} ({exc.strerror}): use --port", file=sys.stderr)
                return 2
        kb = await stack.enter_async_context(await Knowledge.open(settings))
        server = build_mcp(kb, key, admit=lambda: gate.admit(f"Bearer {secret}"))
        if sock is None:
            log.info("Lore MCP server on stdio, as API key %r", key.name)
            await serve_stdio(server, stop)
        else:
            _announce(key, args.host, int(sock.getsockname()[1]))
            await serve_http(server, secret, sock, stop)
    return 0


def _gate(settings: Settings, stack: AsyncExitStack) -> Gate:
    """The API keys and the store that counts their rate (Redis: shared with `lore api` and every other
    replica; embedded: this process's own), as the Knowledge API admits requests; closed with `stack`."""
    store = open_store(settings)
    stack.push_async_callback(store.close)
    return Gate(open_keys(settings, store), store, DirectoryFile(settings.directory_file))


def _announce(key: ApiKey, host: str, port: int) -> None:
    where = f"[{host}]" if ":" in host else host
    print(
        f"Lore MCP server on http://{where}:{port}{MCP_PATH} (streamable HTTP), as API key {key.name!r}. "
        "Clients send `Authorization: Bearer <LORE_MCP_KEY>`. Ctrl-C stops it.",
        file=sys.stderr,
        flush=True,
    )
