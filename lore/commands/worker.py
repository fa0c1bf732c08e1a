"""`lore worker`: runs the sync and delete jobs queued on Redis, and queues sources when they are due."""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack

from ingestion.worker import MAX_JOBS, WorkerContext, run_worker
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings
from knowledge.sources import open_registry
from lore.runtime import open_engine


async def worker(args: argparse.Namespace, settings: Settings) -> int:
    """Work the job queue until SIGTERM or Ctrl-C (finishing or handing back running jobs), or with
    `--burst` until the queue is empty."""
    if not settings.redis_url:
        print(
            "lore worker: set LORE_REDIS_URL: jobs are queued on Redis (embedded mode syncs inside "
            "`lore bot`, no worker needed)",
            file=sys.stderr,
        )
        return 2
    async with AsyncExitStack() as stack:
        store = RedisStore(settings.redis_url)
        stack.push_async_callback(store.close)
        engine = await open_engine(stack, settings)
        context = WorkerContext(settings=settings, engine=engine, registry=open_registry(settings, store))
        if not args.burst:
            print(
                f"Lore worker: running up to {MAX_JOBS} jobs at a time. Ctrl-C or SIGTERM stops it "
                "(running jobs finish or are handed back).",
                file=sys.stderr,
                flush=True,
            )
        done = await run_worker(context, settings.redis_url, burst=args.burst)
    print(
        f"lore worker: {done.jobs_complete} jobs done, {done.jobs_retried} retried or handed back, "
        f"{done.jobs_failed} failed",
        file=sys.stderr,
    )
    return 0
