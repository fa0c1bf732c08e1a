"""`lore worker`: runs the sync and delete jobs queued on Redis, and queues sources when they are due.

While it runs (not with `--burst`) it serves `GET /metrics` (Prometheus) and `GET /healthz` on
`LORE_METRICS_PORT`, on every interface: keep that port inside the cluster, not on a public address.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack

from aiohttp import web
from arq.worker import Worker

from ingestion.source_jobs import WorkerContext
from ingestion.worker import build_worker, gauge_queue, work, working
from knowledge.jobs_arq import ArqJobs
from knowledge.kv.redis import RedisStore
from knowledge.metrics import Metrics
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
        registry = open_registry(settings, store)
        context = WorkerContext(settings=settings, engine=engine, registry=registry, metrics=Metrics())
        running = build_worker(context, settings.redis_url, burst=args.burst)
        if not args.burst:
            runner = web.AppRunner(probes(context.metrics, running), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            try:
                await web.TCPSite(runner, "0.0.0.0", settings.metrics_port).start()
                served = f"; /metrics and /healthz on :{settings.metrics_port}"
            except OSError as exc:  # the jobs matter more than the metrics: run without them, and say so
                port = settings.metrics_port
                served = (
                    f"; NOT serving /metrics: port {port} is unusable ({exc.strerror}), see LORE_METRICS_PORT"
                )
            print(
                f"Lore worker: running up to {settings.worker_jobs} jobs at a time{served}. Ctrl-C or "
                "SIGTERM stops it (running jobs finish or are handed back).",
                file=sys.stderr,
                flush=True,
            )
        done = await work(running)
    print(
        f"lore worker: {done.jobs_complete} jobs done, {done.jobs_retried} retried or handed back, "
        f"{done.jobs_failed} failed",
        file=sys.stderr,
    )
    return 0


def probes(metrics: Metrics, running: Worker) -> web.Application:
    """`GET /metrics` (the queue depth read at each scrape) and `GET /healthz` (200 while the worker's loop
    runs, else 503)."""

    async def refresh() -> None:
        if working(running):
            await gauge_queue(metrics, ArqJobs(running.pool))

    async def healthz(request: web.Request) -> web.Response:
        ok = working(running)
        return web.json_response({"status": "ok" if ok else "not running"}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics.handler(refresh))
    app.router.add_get("/healthz", healthz)
    return app
