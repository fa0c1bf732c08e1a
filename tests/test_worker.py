"""The sync worker on a real Redis with the real sync engine: idempotent requests, syncs, retries, deletes,
hand-back on shutdown, recovery after SIGKILL, and the admin's DM; embedded mode's InlineJobs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from arq.worker import Worker
from pydantic import SecretStr

from ingestion.connectors.base import DocumentRef
from ingestion.connectors.files import FilesConnector
from ingestion.liveness import Liveness
from ingestion.parse_pool import ParsePool
from ingestion.state import STATE_FILE, FileSyncState
from ingestion.state.sqlite import rows_in
from ingestion.sync import SyncEngine
from ingestion.worker import ENQUEUE_DUE, WorkerContext, build_worker, inline_jobs, run_sync, run_worker
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.index.edge import EdgeIndex
from knowledge.jobs import SYNC, JobRequest, job_id
from knowledge.jobs_arq import QUEUE, ArqJobs, in_progress_key, worker_key
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.redis import RedisStore
from knowledge.notify import tell
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry, open_registry
from lore.cli import main
from lore.runtime import sync_engine
from tests.conftest import write_pages
from tests.slack_standin import SlackStandin, dead_api_url

PAGES = {
    "expenses.md": "# Expenses\n\n## Reimbursement\n\nExpenses are reimbursed within 30 days of approval.\n",
    "travel.md": "# Travel\n\nBook flights through the travel desk at least two weeks ahead.\n",
    "leave.md": "# Leave\n\nParental leave is sixteen weeks, fully paid.\n",
}
WIKI = JobRequest(source_id="wiki", requested_by="U1")


class Told:
    """Records what the worker tells admins."""

    def __init__(self) -> None:
        self.messages: list[tuple[str | None, str]] = []

    async def __call__(self, user_id: str | None, text: str) -> None:
        self.messages.append((user_id, text))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_pages(tmp_path / "wiki", PAGES)


@pytest.fixture
async def redis(redis_url: str) -> str:
    """The real Redis, flushed for this test."""
    raw = aioredis.Redis.from_url(redis_url)
    await raw.flushdb()
    await raw.aclose()
    return redis_url


@pytest.fixture
async def registry(redis: str) -> AsyncIterator[StoreRegistry]:
    store = RedisStore(redis)
    yield StoreRegistry(store)
    await store.close()


@pytest.fixture
async def jobs(redis: str) -> AsyncIterator[ArqJobs]:
    queue = await ArqJobs.open(redis)
    yield queue
    await queue.close()


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def context(settings: Settings, engine: SyncEngine, registry: StoreRegistry, told: Told) -> WorkerContext:
    return WorkerContext(settings=settings, engine=engine, registry=registry, notify=told, retry_base=0.01)


async def register(registry: StoreRegistry, folder: Path, source_id: str = "wiki") -> None:
    await registry.put(Source(id=source_id, location=[str(folder)], access=["public"], added_by="U1"))


async def synced(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    """Register the wiki folder and let the worker sync it once."""
    await register(registry, folder)
    await jobs.request_sync(WIKI)
    await work(context, redis)


async def work(context: WorkerContext, redis: str) -> int:
    """Run the queued jobs in this process (burst mode); returns how many completed."""
    return (await run_worker(context, redis, burst=True, handle_signals=False)).jobs_complete


async def test_a_second_request_is_a_no_op_until_the_job_ends(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    await register(registry, folder)
    assert [await jobs.request_sync(WIKI), await jobs.request_sync(WIKI)] == [True, False]
    assert (await jobs.status()).queued == 1
    assert await work(context, redis) == 1
    assert await jobs.request_sync(WIKI)  # no result kept: the id is free again
    assert (await jobs.status()).model_dump() == {
        "queued": 1,
        "queued_sources": ["wiki"],
        "running": [],
        "removing": [],
        "workers": 0,
        "detail": ("no worker is running: start `lore worker` (jobs wait in the queue until one does)"),
    }


async def test_the_worker_syncs_a_source_and_records_its_status(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str, told: Told
) -> None:
    await synced(context, jobs, registry, folder, redis)
    chunks = await context.engine.index.count("wiki")
    record = await registry.get("wiki")
    assert record is not None and chunks >= 3
    status = record.status
    assert (status.ok, status.state, status.added, status.failed, status.chunks) == (
        True,
        "idle",
        3,
        0,
        chunks,
    )
    assert told.messages == [
        (
            "U1",
            f"Sync of `wiki` finished: 3 added, 0 updated, 0 unchanged, 0 deleted, "
            f"0 failed ({chunks} chunks).",
        )
    ]


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_an_edit_reembeds_only_that_document(
    context: WorkerContext, kb: Knowledge, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    await synced(context, jobs, registry, folder, redis)
    before = kb.embedder.texts_embedded
    (folder / "travel.md").write_text("# Travel\n\nTrains are preferred for trips under four hours.\n")
    await jobs.request_sync(WIKI)
    await work(context, redis)
    record = await registry.get("wiki")
    assert record is not None
    assert (record.status.updated, record.status.unchanged) == (1, 2)
    assert kb.embedder.texts_embedded - before == record.status.chunks == 1


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_a_retryable_failure_is_retried_then_recorded_without_pruning(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str, told: Told
) -> None:
    await synced(context, jobs, registry, folder, redis)
    chunks = await context.engine.index.count("wiki")
    await asyncio.to_thread(folder.rename, folder.with_name("unmounted"))  # listing fails: ListingError
    await jobs.request_sync(WIKI)
    worker = await run_worker(context, redis, burst=True, handle_signals=False)
    assert (worker.jobs_retried, worker.jobs_complete) == (context.max_tries - 1, 1)
    assert await context.engine.index.count("wiki") == chunks
    record = await registry.get("wiki")
    assert record is not None
    assert (record.status.ok, record.status.state) == (False, "idle")
    assert record.status.summary.startswith("listing failed:") and "does not exist" in record.status.summary
    user, text = told.messages[-1]
    assert user == "U1" and text.startswith("Sync of `wiki` failed:") and "nothing was deleted" in text


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_the_status_counts_the_sources_chunks_after_an_unchanged_or_failed_sync(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    """`lore sources list`, `/lore sources` and the removal's confirmation read `in_index`: the source's
    chunks in the index, not what the last sync happened to write (0 when nothing changed)."""
    await synced(context, jobs, registry, folder, redis)
    chunks = await context.engine.index.count("wiki")
    await jobs.request_sync(WIKI)
    await work(context, redis)
    record = await registry.get("wiki")
    assert record is not None and (record.status.unchanged, record.status.chunks) == (3, 0)
    assert record.status.in_index == chunks >= 3
    await asyncio.to_thread(folder.rename, folder.with_name("unmounted"))  # the listing fails
    await jobs.request_sync(WIKI)
    await run_worker(context, redis, burst=True, handle_signals=False)
    record = await registry.get("wiki")
    assert record is not None and record.status.summary.startswith("listing failed:")
    assert record.status.in_index == chunks == await context.engine.index.count("wiki")


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_a_delete_job_removes_every_chunk_and_the_entry(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str, told: Told
) -> None:
    await synced(context, jobs, registry, folder, redis)
    chunks = await context.engine.index.count("wiki")
    assert await jobs.request_delete(WIKI) and not await jobs.request_delete(WIKI)
    await work(context, redis)
    assert await context.engine.index.count("wiki") == 0
    assert await registry.get("wiki") is None
    assert await context.engine.state.documents("wiki") == {}
    assert told.messages[-1] == ("U1", f"Removed source `wiki` and its {chunks} chunks.")


class Gated:
    """A files connector that stops before fetching its `after`-th document until `gate` is set."""

    kind = "files"

    def __init__(self, inner: FilesConnector, after: int) -> None:
        self.inner, self.after, self.fetched = inner, after, 0
        self.reached, self.gate = asyncio.Event(), asyncio.Event()

    def list_documents(self) -> AsyncIterator[DocumentRef]:
        return self.inner.list_documents()

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        if self.fetched == self.after:
            self.reached.set()
            await self.gate.wait()
        self.fetched += 1
        return await self.inner.fetch(ref, workdir)


async def stuck_sync(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> tuple[Worker, asyncio.Future[None]]:
    """A worker (signals not handled) running a sync of the wiki that waits forever after one document."""
    await register(registry, folder)
    await jobs.request_sync(WIKI)
    gated = Gated(FilesConnector([folder], ["public"]), after=1)
    worker = build_worker(
        dataclasses.replace(context, connector_for=lambda s, _: gated), redis, handle_signals=False
    )
    running = asyncio.ensure_future(worker.async_run())
    await asyncio.wait_for(gated.reached.wait(), 30)
    return worker, running


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_a_stopped_worker_hands_its_job_back(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    worker, running = await stuck_sync(context, jobs, registry, folder, redis)
    status = await jobs.status()
    assert (status.running, status.queued, status.workers) == (["wiki"], 0, 1)
    worker.handle_sig(signal.SIGTERM)  # what SIGTERM does once LORE_WORKER_SHUTDOWN_WAIT has run out
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await worker.close()
    assert worker.jobs_retried == 1
    assert await jobs.pool.zscore(QUEUE, job_id(SYNC, "wiki")) is not None  # still queued …
    assert not await jobs.pool.exists(in_progress_key(job_id(SYNC, "wiki")))  # … and free to run
    assert not await jobs.request_sync(WIKI)
    record = await registry.get("wiki")
    assert record is not None and record.status.state == "queued"
    await work(context, redis)  # the next worker finishes it
    docs = await context.engine.state.documents("wiki")
    assert len(docs) == 3
    assert await context.engine.index.count("wiki") == sum(d.chunks for d in docs.values())


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_sigterm_hands_back_what_runs_past_the_shutdown_wait(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    settings = context.settings.model_copy(update={"worker_shutdown_wait": 1})
    worker, running = await stuck_sync(
        dataclasses.replace(context, settings=settings), jobs, registry, folder, redis
    )
    started = time.monotonic()
    worker.handle_sig_wait_for_completion(signal.SIGTERM)  # what SIGTERM does (arq's handler)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running, 20)
    waited = time.monotonic() - started
    await worker.close()
    assert 1 <= waited < 10  # the setting's wait, not the 25 s default
    assert worker.jobs_retried == 1
    assert await jobs.pool.zscore(QUEUE, job_id(SYNC, "wiki")) is not None  # handed back


async def reached(gates: Iterable[Gated], when: str) -> None:
    """Wait (30 s at most) until the first, or every, one of `gates` is reached."""
    waits = [asyncio.ensure_future(gate.reached.wait()) for gate in gates]
    _, pending = await asyncio.wait(waits, timeout=30, return_when=when)
    for wait in pending:
        wait.cancel()
    assert when == asyncio.FIRST_COMPLETED or not pending


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
@pytest.mark.parametrize("worker_jobs", [1, 2])
async def test_a_worker_syncs_as_many_sources_at_once_as_its_setting_says(
    context: WorkerContext, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str, worker_jobs: int
) -> None:
    gates = {name: Gated(FilesConnector([folder], ["public"]), after=0) for name in ("wiki", "notes")}
    for name in gates:
        await register(registry, folder, name)
        await jobs.request_sync(JobRequest(source_id=name))
    settings = context.settings.model_copy(update={"worker_jobs": worker_jobs})
    connector_for = lambda source, _: gates[source.id]  # noqa: E731
    worker = build_worker(
        dataclasses.replace(context, settings=settings, connector_for=connector_for),
        redis,
        handle_signals=False,
    )
    running = asyncio.ensure_future(worker.async_run())
    await reached(gates.values(), asyncio.FIRST_COMPLETED)
    await asyncio.sleep(1.5)  # three polls of the queue: time for a second job to start if it may
    started = sorted(name for name, gate in gates.items() if gate.reached.is_set())
    assert len(started) == worker_jobs and len((await jobs.status()).running) == worker_jobs
    for gate in gates.values():
        gate.gate.set()
    await reached(gates.values(), asyncio.ALL_COMPLETED)  # the other one runs once a job is free
    worker.handle_sig(signal.SIGTERM)
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await worker.close()


async def test_a_sync_that_takes_too_long_stops_and_says_so(
    context: WorkerContext, registry: StoreRegistry, folder: Path, told: Told
) -> None:
    await register(registry, folder)
    gated = Gated(FilesConnector([folder], ["public"]), after=1)  # never opens: the sync hangs
    assert (
        await run_sync(dataclasses.replace(context, connector_for=lambda s, _: gated, job_timeout=0.2), WIKI)
        is None
    )
    record = await registry.get("wiki")
    assert record is not None and (record.status.ok, record.status.state) == (False, "idle")
    assert record.status.summary.startswith("sync stopped: it took longer than 0.2 s")
    assert told.messages[-1][1].startswith(
        "Sync of `wiki` failed: it took longer than 0.2 s; what was stored"
    )


async def test_only_orphaned_jobs_are_handed_back(jobs: ArqJobs) -> None:
    pool = jobs.pool
    for name in ("dead", "alive", "fresh"):
        await jobs.request_sync(JobRequest(source_id=name))
    for name, left in (("dead", 50_000), ("alive", 50_000), ("fresh", 99_500)):
        await pool.psetex(in_progress_key(job_id(SYNC, name)), left, b"1")
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    beats = {
        "here:gone": {"host": socket.gethostname(), "pid": gone.pid, "jobs": [job_id(SYNC, "dead")]},
        "elsewhere:1": {"host": "elsewhere", "pid": 1, "jobs": [job_id(SYNC, "alive")]},
    }
    for name, beat in beats.items():
        await pool.set(worker_key(name), json.dumps(beat), ex=30)
    liveness = Liveness(in_progress_s=100)
    await liveness.start({"redis": pool})
    try:
        started = {n: await pool.exists(in_progress_key(job_id(SYNC, n))) for n in ("dead", "alive", "fresh")}
        assert started == {"dead": 0, "alive": 1, "fresh": 1}
        assert not await pool.exists(worker_key("here:gone")) and await pool.exists(worker_key("elsewhere:1"))
        assert (await jobs.status()).workers == 2  # elsewhere:1 and this one
    finally:
        await liveness.stop({})
    assert not await pool.exists(worker_key(liveness.id))


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_the_admin_is_told_in_slack(
    settings: Settings, engine: SyncEngine, jobs: ArqJobs, registry: StoreRegistry, folder: Path, redis: str
) -> None:
    async with SlackStandin() as slack:
        update = {"slack_bot_token": SecretStr("xoxb-test"), "slack_api_url": slack.api_url}
        context = WorkerContext(settings=settings.model_copy(update=update), engine=engine, registry=registry)
        await synced(context, jobs, registry, folder, redis)
        [call] = slack.calls_to("chat.postMessage")
    assert call.args["channel"] == "U1" and call.token == "xoxb-test"
    assert call.args["text"].startswith("Sync of `wiki` finished: 3 added, 0 updated")


async def test_telling_never_raises(settings: Settings) -> None:
    assert not await tell(settings, "U1", "no token: nothing is sent")
    broken = settings.model_copy(update={"slack_bot_token": SecretStr("x"), "slack_api_url": dead_api_url()})
    assert not await tell(broken, "U1", "Slack is down: logged")
    assert not await tell(broken, "cli", "not a Slack user")


def test_the_worker_needs_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--burst"]) == 2
    assert "LORE_REDIS_URL" in capsys.readouterr().err


# ----- embedded mode


async def test_inline_jobs_run_one_job_per_source_one_at_a_time() -> None:
    started: list[str] = []
    entered = {name: asyncio.Event() for name in "ab"}
    gates = {name: asyncio.Event() for name in "ab"}

    async def run(request: JobRequest) -> None:
        started.append(request.source_id)
        entered[request.source_id].set()
        await gates[request.source_id].wait()

    jobs = InlineJobs(run, run)
    a, b = JobRequest(source_id="a"), JobRequest(source_id="b")
    assert [await jobs.request_sync(a), await jobs.request_sync(a), await jobs.request_sync(b)] == [
        True,
        False,
        True,
    ]
    await entered["a"].wait()
    status = await jobs.status()
    assert (status.running, status.queued, started) == (["a"], 1, ["a"])
    gates["a"].set()
    await entered["b"].wait()
    assert (await jobs.status()).running == ["b"]
    assert await jobs.request_sync(a)  # a has ended: it may be queued again
    assert await jobs.request_delete(b)  # another kind of job for b
    await jobs.close(wait=0)  # queued jobs are dropped, the running one is cancelled
    assert started == ["a", "b"]
    assert (await jobs.status()).model_dump()["queued"] == 0
    assert not await jobs.request_sync(a)  # closed


async def test_inline_jobs_wait_for_a_job_and_lend_the_writers_slot() -> None:
    gate, ran = asyncio.Event(), []

    async def run(request: JobRequest) -> None:
        await gate.wait()
        ran.append(request.source_id)

    jobs = InlineJobs(run, run)
    await jobs.wait(SYNC, "a")  # no job: at once
    assert await jobs.request_sync(JobRequest(source_id="a"))
    waiting = asyncio.ensure_future(jobs.wait(SYNC, "a"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the job is still running
    gate.set()
    await asyncio.wait_for(waiting, 5)
    assert ran == ["a"]
    async with jobs.slot():  # held: a job requested now waits for it
        assert await jobs.request_sync(JobRequest(source_id="b"))
        await asyncio.sleep(0.05)
        assert (await jobs.status()).running == [] and ran == ["a"]
    await asyncio.wait_for(jobs.wait(SYNC, "b"), 5)
    assert ran == ["a", "b"]
    await jobs.close()


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_inline_jobs_sync_with_the_real_engine(
    settings: Settings, engine: SyncEngine, folder: Path
) -> None:
    registry = open_registry(settings)  # the JSON file of embedded mode
    await registry.put(Source(id="wiki", location=[str(folder)], access=["public"]))
    told = Told()
    jobs = inline_jobs(WorkerContext(settings=settings, engine=engine, registry=registry, notify=told))
    assert await jobs.request_sync(WIKI)
    await jobs.drain()
    record = await registry.get("wiki")
    assert record is not None and (record.status.ok, record.status.added) == (True, 3)
    assert told.messages[0][1].startswith("Sync of `wiki` finished: 3 added")


# ----- a real `lore worker`, killed mid-sync


def notes(tmp_path: Path, count: int = 20) -> Path:
    """A folder of `count` one-chunk notes."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(count):
        body = f"Note {i}: the quarterly review of team {i} covers hiring, budget and goal {i}. " * 4
        (docs / f"note{i:02}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    return docs


def _stored(state_db: Path) -> int:
    """Documents in the worker's sync state file (an embedded index: the state lives beside it)."""
    try:
        return len(rows_in(state_db))
    except sqlite3.OperationalError:  # the table is not there yet, or it is being written
        return 0


async def _point_ids(index: EdgeIndex, source_id: str, doc_ids: list[str]) -> dict[str, str]:
    chunks = [c for d in doc_ids for c in await index.document_chunks(source_id, d, ["public"])]
    return {c.id: c.text for c in chunks}


@pytest.mark.slow
async def test_a_killed_worker_converges_to_one_clean_sync(
    settings: Settings,
    jobs: ArqJobs,
    registry: StoreRegistry,
    redis: str,
    tmp_path: Path,
    local_model: LocalEmbedder,
) -> None:
    docs = notes(tmp_path, 120)  # documents are stored a group (up to 32 chunks) at a time
    await register(registry, docs, "docs")
    await jobs.request_sync(JobRequest(source_id="docs"))
    env = {**os.environ, "LORE_DATA_DIR": str(settings.data_dir), "LORE_REDIS_URL": redis}
    command = [sys.executable, "-m", "lore.cli", "-v", "worker"]
    state_db = settings.data_dir / STATE_FILE
    with (tmp_path / "worker.log").open("wb") as log:
        first = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while not 0 < _stored(state_db) < 90:
            assert first.returncode is None and time.monotonic() < deadline, (
                tmp_path / "worker.log"
            ).read_text()
            await asyncio.sleep(0.05)  # polling another process: nothing to wait on
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert 0 < _stored(state_db) < 120
        assert await jobs.pool.exists(in_progress_key(job_id(SYNC, "docs")))  # arq alone would wait hours
        again = await asyncio.create_subprocess_exec(*command, "--burst", env=env, stdout=log, stderr=log)
        await asyncio.wait_for(again.wait(), 180)
    assert again.returncode == 0, (tmp_path / "worker.log").read_text()
    names = sorted(p.name for p in docs.iterdir())
    index = EdgeIndex(settings.index_dir, 384)
    try:
        after_kill = await _point_ids(index, "docs", names)
        assert len(after_kill) == await index.count("docs") == await index.count()
    finally:
        await index.close()
    # the reference: one clean sync into a fresh index (vectors from the worker's cache: ids and texts matter)
    reference = tmp_path / "reference"
    cache = EmbeddingCache(settings.data_dir / "embeddings.sqlite")
    fresh = Settings(data_dir=reference, _env_file=None)  # type: ignore[call-arg]
    clean = Knowledge(fresh, EdgeIndex(reference / "index", 384), CachedEmbedder(local_model, cache))
    state = FileSyncState(reference / "state.sqlite")
    try:
        await sync_engine(clean, ParsePool(workers=0), state).sync("docs", FilesConnector([docs], ["public"]))
        assert after_kill == await _point_ids(clean.index, "docs", names)  # same ids, same texts: no holes
        assert await clean.index.count("docs") == len(after_kill)  # and no duplicates
    finally:
        await state.close()
        await clean.answerer.close()
        await clean.index.close()  # not clean.close(): the model is the session's
        cache.close()
    record = await registry.get("docs")
    assert record is not None and (record.status.ok, record.status.state) == (True, "idle")


@pytest.mark.slow
async def test_sigterm_lets_the_running_sync_finish(
    settings: Settings, jobs: ArqJobs, registry: StoreRegistry, redis: str, tmp_path: Path
) -> None:
    docs = notes(tmp_path, 120)  # documents are stored a group (up to 32 chunks) at a time
    await register(registry, docs, "docs")
    await jobs.request_sync(JobRequest(source_id="docs"))
    env = {**os.environ, "LORE_DATA_DIR": str(settings.data_dir), "LORE_REDIS_URL": redis}
    env["LORE_WORKER_SHUTDOWN_WAIT"] = "300"  # a loaded machine must not cut the sync short
    state_db = settings.data_dir / STATE_FILE
    with (tmp_path / "worker.log").open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lore.cli", "-v", "worker", env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 120
        while not 0 < _stored(state_db) < 90:
            assert worker.returncode is None and time.monotonic() < deadline, (
                tmp_path / "worker.log"
            ).read_text()
            await asyncio.sleep(0.05)  # polling another process: nothing to wait on
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 60) == 0
    assert _stored(state_db) == 120  # it took no new job, but finished the running one
    queued = [bytes(j).decode() for j in await jobs.pool.zrange(QUEUE, 0, -1)]
    assert job_id(SYNC, "docs") not in queued  # not handed back: it finished (a cron tick may be queued)
    assert all(j.startswith(f"{ENQUEUE_DUE}:") for j in queued), queued
    assert (await jobs.status()).workers == 0  # its heartbeat left with it
    record = await registry.get("docs")
    assert record is not None and (record.status.ok, record.status.added) == (True, 120)
