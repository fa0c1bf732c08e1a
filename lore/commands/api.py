"""`lore api`: the Knowledge API over HTTP, for programs, AI agents and federated Lore deployments.

It opens the knowledge base, the API keys and the store that counts each key's rate (Redis when
`LORE_REDIS_URL` is set, so the limit holds across replicas). In embedded mode the on-disk index is held by
one process at a time: `lore serve` runs the API beside the bot, or set `LORE_QDRANT_URL` to run both.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack

from aiohttp import web

from api.auth import Gate
from api.server import KnowledgeApi
from knowledge.apikeys import open_keys
from knowledge.directory import DirectoryFile
from knowledge.kv.factory import open_store
from knowledge.metrics import Metrics
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.commands.signals import stop_on_signals


async def api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve `/v1/search`, `/v1/answer`, `/openapi.json` and `/metrics` until SIGTERM or Ctrl-C."""
    stop = stop_on_signals()
    port = args.port or settings.api_port
    async with AsyncExitStack() as stack:
        kb = await Knowledge.open(settings)
        stack.push_async_callback(kb.close)
        store = open_store(settings)
        stack.push_async_callback(store.close)
        gate = Gate(open_keys(settings, store), store, DirectoryFile(settings.directory_file))
        server = KnowledgeApi(kb, gate, settings, Metrics())
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        try:
            await web.TCPSite(runner, args.host, port).start()
        except OSError as exc:
            where = f"{args.host}:{port}"
            print(f"lore api: cannot listen on {where} ({exc.strerror}): use --port", file=sys.stderr)
            return 2
        print(
            f"Lore Knowledge API on http://{args.host}:{port} (POST /v1/search, /v1/answer; GET "
            "/openapi.json). Keys: `lore apikey create`. Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    return 0
