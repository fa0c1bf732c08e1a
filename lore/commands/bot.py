"""`lore bot`: Lore in Slack, over Socket Mode (SLACK_APP_TOKEN) or HTTP (`/slack/events`).

Sources and API keys are managed from Slack (`/lore`) with the registry, audit log, jobs and key store
composed here: on Redis and arq when `LORE_REDIS_URL` is set (a separate `lore worker` runs the jobs);
otherwise in files under `LORE_DATA_DIR` with the jobs and the sync schedule run inside this process, which
owns the on-disk index.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack

from bot.runtime import BotRuntime, SlackSetupError
from ingestion.scheduler import Scheduler
from ingestion.source_jobs import WorkerContext
from ingestion.worker import inline_jobs
from knowledge.apikeys import open_keys
from knowledge.audit import open_audit
from knowledge.jobs import Jobs
from knowledge.jobs_arq import ArqJobs
from knowledge.kv.base import KeyValue
from knowledge.kv.factory import open_store
from knowledge.metrics import Metrics
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Registry, open_registry
from lore.commands.signals import stop_on_signals
from lore.runtime import open_engine


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
    stop = stop_on_signals()
    async with AsyncExitStack() as stack:
        kb = await Knowledge.open(settings)
        stack.push_async_callback(kb.close)
        store = open_store(settings)
        stack.push_async_callback(store.close)
        registry = open_registry(settings, store)
        metrics = Metrics()  # one /metrics for the answers and, in embedded mode, the syncs
        jobs = await _jobs(stack, kb, registry, settings, stop, metrics)
        try:
            how = await start_bot(stack, settings, kb, store, registry, jobs, metrics, port=args.port)
        except SlackSetupError as exc:
            print(f"lore bot: {exc}", file=sys.stderr)
            return 2
        if settings.redis_url is None:
            how += "; syncing sources in this process"
        stack.callback(stop.set)  # leaving early (an error) stops the scheduler first
        print(f"Lore is answering in Slack {how}. Ctrl-C stops it.", file=sys.stderr, flush=True)
        await stop.wait()
        print("stopping: finishing the answers being written…", file=sys.stderr, flush=True)
    return 0


async def start_bot(
    stack: AsyncExitStack,
    settings: Settings,
    kb: Knowledge,
    store: KeyValue,
    registry: Registry,
    jobs: Jobs,
    metrics: Metrics,
    *,
    port: int | None = None,
) -> str:
    """Answer in Slack over Socket Mode (SLACK_APP_TOKEN; probes served on the HTTP port) or HTTP
    (`/slack/events`) until `stack` closes; returns how, for the start line. `SlackSetupError` when Slack
    refuses the token."""
    runtime = await BotRuntime.open(
        settings,
        kb=kb,
        store=store,
        registry=registry,
        audit=open_audit(settings, store),
        jobs=jobs,
        keys=open_keys(settings, store),
        metrics=metrics,
    )
    stack.push_async_callback(runtime.close)
    if settings.slack_app_token is not None:
        await runtime.connect_socket_mode()
        await runtime.serve_http(port=port, events=False)  # probes only
        return f"over Socket Mode (probes on :{port or settings.http_port})"
    await runtime.serve_http(port=port)
    return f"over HTTP on :{port or settings.http_port} (POST /slack/events)"


async def _jobs(
    stack: AsyncExitStack,
    kb: Knowledge,
    registry: Registry,
    settings: Settings,
    stop: asyncio.Event,
    metrics: Metrics,
) -> Jobs:
    """arq on Redis (a `lore worker` runs them); else the jobs and the schedule inside this process."""
    if settings.redis_url:
        arq_jobs = await ArqJobs.open(settings.redis_url)
        stack.push_async_callback(arq_jobs.close)
        return arq_jobs
    engine = await open_engine(stack, settings, kb)
    jobs = inline_jobs(WorkerContext(settings=settings, engine=engine, registry=registry, metrics=metrics))
    stack.push_async_callback(jobs.close)
    task = asyncio.get_running_loop().create_task(Scheduler(registry, jobs).run(stop))
    stack.push_async_callback(lambda: asyncio.wait_for(task, 10))
    return jobs
