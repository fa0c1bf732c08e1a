"""`lore bot`: Lore in Slack, over Socket Mode (SLACK_APP_TOKEN) or HTTP (`/slack/events`).

Without Redis (embedded mode) this one process also keeps the registered sources in sync, since it owns
the on-disk index."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import AsyncExitStack

from bot.runtime import BotRuntime, SlackSetupError
from ingestion.parse_pool import ParsePool
from ingestion.scheduler import Scheduler
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.runtime import open_registry, open_state, sync_engine


async def bot(args: argparse.Namespace, settings: Settings) -> int:
    """Answer in Slack until SIGTERM or Ctrl-C, then finish the answers being written."""
    socket_mode = settings.slack_app_token is not None
    if not socket_mode and settings.slack_signing_secret is None:
        print(
            "lore bot: set SLACK_APP_TOKEN (Socket Mode, no public URL needed) or SLACK_SIGNING_SECRET (HTTP "
            "mode, Slack posts to /slack/events): README, 'Connect to Slack'",
            file=sys.stderr,
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        kb = await Knowledge.open(settings)
        stack.push_async_callback(kb.close)
        try:
            runtime = await BotRuntime.open(settings, kb=kb)
        except SlackSetupError as exc:
            print(f"lore bot: {exc}", file=sys.stderr)
            return 2
        stack.push_async_callback(runtime.close)
        if socket_mode:
            await runtime.connect_socket_mode()
            await runtime.serve_http(port=args.port, events=False)  # probes only
            how = f"over Socket Mode (probes on :{args.port or settings.http_port})"
        else:
            await runtime.serve_http(port=args.port)
            how = f"over HTTP on :{args.port or settings.http_port} (POST /slack/events)"
        if settings.redis_url is None:
            await _schedule_syncs(stack, kb, settings, stop)
            how += "; syncing registered sources in this process"
        stack.callback(stop.set)  # leaving early (an error) stops the scheduler first
        print(f"Lore is answering in Slack {how}. Ctrl-C stops it.", file=sys.stderr, flush=True)
        await stop.wait()
        print("stopping: finishing the answers being written…", file=sys.stderr, flush=True)
    return 0


async def _schedule_syncs(
    stack: AsyncExitStack, kb: Knowledge, settings: Settings, stop: asyncio.Event
) -> None:
    """Embedded mode: run the sync scheduler beside the bot until `stop`."""
    parser = ParsePool(workers=1, timeout=settings.parse_timeout)
    stack.push_async_callback(parser.close)
    state = open_state(kb)
    stack.push_async_callback(state.close)
    scheduler = Scheduler(sync_engine(kb, parser, state), open_registry(settings))
    task = asyncio.get_running_loop().create_task(scheduler.run(stop))
    stack.push_async_callback(lambda: asyncio.wait_for(task, settings.parse_timeout + 30))
