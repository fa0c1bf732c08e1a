"""`lore serve`: Lore on one machine in one process, over the one embedded index.

It runs the Slack bot (when SLACK_BOT_TOKEN and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET are set), the
Knowledge API (LORE_API_PORT), the MCP server over streamable HTTP (LORE_MCP_PORT, when LORE_MCP_KEY is set)
and the sync jobs with their schedule. While it runs, `lore ingest`, `sources`, `apikey`, `search`, `ask` and
`chat` on the same LORE_DATA_DIR run inside it (lore/serve/), instead of failing on the index's lock.

With LORE_REDIS_URL and LORE_QDRANT_URL both set (a fleet) the sync jobs are queued for `lore worker`s, as
`lore bot` does; otherwise this process runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from contextlib import AsyncExitStack

from aiohttp import web

from api.auth import Gate
from api.mcp_server import MCP_PATH, bind, build_mcp, serve_http
from bot.runtime import SlackSetupError
from ingestion.scheduler import Scheduler
from ingestion.source_jobs import WorkerContext
from ingestion.worker import inline_jobs
from knowledge.apikeys import open_keys
from knowledge.directory import DirectoryFile
from knowledge.jobs import Jobs
from knowledge.jobs_arq import ArqJobs
from knowledge.kv.factory import open_store
from knowledge.kv.redis import RedisStore
from knowledge.metrics import Metrics
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import open_registry
from lore.commands.bot import start_bot
from lore.commands.host import Terminal
from lore.commands.signals import stop_on_signals
from lore.runtime import open_engine
from lore.serve.address import ControlAddress, publish, withdraw
from lore.serve.client import running
from lore.serve.host import ServedHost, Shared
from lore.serve.relay import ControlServer
from lore.serve.runner import commands_on


class Refused(Exception):
    """`lore serve` cannot start as configured; the message says how to fix it (exit code 2)."""


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGTERM or Ctrl-C, then finish the answers and jobs being written."""
    if (pid := await running(settings.data_dir)) is not None:
        print(
            f"lore serve: another `lore serve` (pid {pid}) serves {settings.data_dir}: commands reach it "
            "as they are; stop it first to start another",
            file=sys.stderr,
        )
        return 2
    stop = stop_on_signals()
    async with AsyncExitStack() as stack:
        try:
            lines = await _start(stack, args, settings, stop)
        except (Refused, SlackSetupError) as exc:
            print(f"lore serve: {exc}", file=sys.stderr)
            return 2
        stack.callback(stop.set)  # leaving early (an error) stops the scheduler first
        print("Lore is serving:\n" + "\n".join(f"  {line}" for line in lines), file=sys.stderr, flush=True)
        print("Ctrl-C or SIGTERM stops it.", file=sys.stderr, flush=True)
        await stop.wait()
        print("stopping: finishing the answers and jobs being written…", file=sys.stderr, flush=True)
    return 0


async def _start(
    stack: AsyncExitStack, args: argparse.Namespace, settings: Settings, stop: asyncio.Event
) -> list[str]:
    """Open the index once and start every part on it; one line per part for the start message."""
    kb = await Knowledge.open(settings)
    stack.push_async_callback(kb.close)
    await kb.index.count()  # the index's lock is taken here: fail before listening anywhere
    store = open_store(settings)
    stack.push_async_callback(store.close)
    registry = open_registry(settings, store)
    metrics = Metrics()
    engine = await open_engine(stack, settings, kb)
    context = WorkerContext(settings=settings, engine=engine, registry=registry, metrics=metrics)
    fleet = bool(settings.redis_url and settings.qdrant_url)
    inline = None if fleet else inline_jobs(context)
    jobs: Jobs
    if inline is None:
        assert settings.redis_url is not None
        arq = await ArqJobs.open(settings.redis_url)
        stack.push_async_callback(arq.close)
        jobs, sync_line = arq, "syncs: queued for `lore worker` (LORE_REDIS_URL and LORE_QDRANT_URL are set)"
    else:
        stack.push_async_callback(inline.close)
        task = asyncio.get_running_loop().create_task(Scheduler(registry, inline).run(stop))
        stack.push_async_callback(_ended, task, stop)
        jobs, sync_line = inline, "syncs: in this process, on each source's schedule"
    lines = [sync_line]
    if settings.slack_bot_token and (settings.slack_app_token or settings.slack_signing_secret):
        lines.append(
            "Slack: answering " + await start_bot(stack, settings, kb, store, registry, jobs, metrics)
        )
    else:
        lines.append(
            "Slack: off (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: README, 'Connect "
            "to Slack')"
        )
    gate = Gate(open_keys(settings, store), store, DirectoryFile(settings.directory_file))
    lines.append(await _api(stack, args.host, settings, kb, gate, metrics))
    lines.append(await _mcp(stack, args.host, settings, kb, gate, stop))
    redis = store if isinstance(store, RedisStore) else None
    shared = Shared(settings=settings, kb=kb, redis=redis, context=context, jobs=inline)
    lines.append(await _control(stack, settings, shared))
    return lines


async def _api(
    stack: AsyncExitStack,
    host: str,
    settings: Settings,
    kb: Knowledge,
    gate: Gate,
    metrics: Metrics,
) -> str:
    from api.server import KnowledgeApi

    runner = web.AppRunner(KnowledgeApi(kb, gate, settings, metrics).app(), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    try:
        await web.TCPSite(runner, host, settings.api_port).start()
    except OSError as exc:
        raise Refused(
            f"cannot listen on {host}:{settings.api_port} for the Knowledge API ({exc.strerror}): set "
            "LORE_API_PORT"
        ) from exc
    return f"Knowledge API: http://{_where(host)}:{settings.api_port} (keys: `lore apikey create`)"


async def _mcp(
    stack: AsyncExitStack, host: str, settings: Settings, kb: Knowledge, gate: Gate, stop: asyncio.Event
) -> str:
    secret = settings.mcp_key.get_secret_value().strip() if settings.mcp_key else ""
    if not secret:
        return "MCP: off (set LORE_MCP_KEY to an API key: `lore apikey create NAME --access …`)"
    key = await gate.api_keys.verify(secret)
    if key is None:
        raise Refused(
            "LORE_MCP_KEY is not an active API key (unknown, mistyped or revoked): `lore apikey list` shows "
            "the keys"
        )
    try:
        sock = stack.enter_context(bind(host, settings.mcp_port))
    except OSError as exc:
        raise Refused(
            f"cannot listen on {host}:{settings.mcp_port} for MCP ({exc.strerror}): set LORE_MCP_PORT"
        ) from exc
    server = build_mcp(kb, key, admit=lambda: gate.admit(f"Bearer {secret}"))
    task = asyncio.get_running_loop().create_task(serve_http(server, secret, sock, stop))
    stack.push_async_callback(_ended, task, stop)
    return f"MCP: http://{_where(host)}:{settings.mcp_port}{MCP_PATH} as API key {key.name!r}"


async def _control(stack: AsyncExitStack, settings: Settings, shared: Shared) -> str:
    """The loopback endpoint of the terminal commands, and its address file (removed when this stops)."""

    async def run(argv: list[str], terminal: Terminal) -> int:
        return await commands_on(argv, ServedHost(shared, terminal))

    sock = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    address = ControlAddress.new(port=int(sock.getsockname()[1]))
    runner = web.AppRunner(ControlServer(address.token, run).app(), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.SockSite(runner, sock).start()
    path = publish(settings.data_dir, address)
    stack.callback(withdraw, settings.data_dir, address)
    return f"terminal commands (lore ingest, sources, apikey, search, ask, chat): run here, via {path}"


async def _ended(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop a part that runs until `stop` (also when starting failed later on), and wait for it."""
    stop.set()
    try:
        await asyncio.wait_for(task, 10)
    except TimeoutError:
        task.cancel()


def _where(host: str) -> str:
    return f"[{host}]" if ":" in host else host
