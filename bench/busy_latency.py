"""Questions during a large sync: the bot's question latency while a sync embeds, over its latency idle.

One bot (signed Slack events, the Slack and LLM stand-ins over HTTP, as in `bot_latency`) on a small
embedded index answers DM questions one at a time, in three phases interleaved on the same process and
machine: *idle*; *embedded*, while a sync of a synthetic corpus of long documents runs inside the bot's
process on its own index (what `lore bot` in embedded mode does on its schedule); and *worker*, while a
separate `lore ingest` process syncs the same corpus into its own data dir on the same cores (a `lore worker`
does the same work; no Qdrant server binary exists here, so it cannot share the bot's index). A question's
time is from the event's POST to the stand-in's `chat.stopStream`; every question text is distinct.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bench.bot_latency import DOCS, PLACES, REPLY, Spread, _ask, _texts
from bench.common import bench_settings, ingest
from knowledge.access import PUBLIC
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.factory import open_model
from knowledge.index.factory import open_index
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from tests.bot_harness import bot_harness, bot_settings, workspace
from tests.llm_standin import LLMStandin
from tests.slack_standin import SlackStandin

VOCABULARY = (
    "budget travel payroll laptop holiday office policy review security onboarding manager receipt hotel "
    "contract invoice supplier meeting deadline project customer release roadmap training benefit pension"
)
WORDS = VOCABULARY.split()
DOC_WORDS = 350  # about a 512-token chunk per document: what a wiki page's chunk costs to embed
DM = PLACES[1]


class Phase(BaseModel):
    """Questions answered in one phase: their spread, and the ratio of each figure to idle."""

    name: str
    questions: int
    done_ms: Spread
    p50_ratio: float = 1.0
    p95_ratio: float = 1.0


class BusyLatency(BaseModel):
    """The three phases and the corpus synced while the last two were asked."""

    documents: int
    phases: list[Phase]


def long_corpus(folder: Path, documents: int, seed: int) -> Path:
    """`documents` Markdown pages of about 512 tokens, all different (nothing is found in a cache)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(documents):
        words = " ".join(rng.choice(WORDS) for _ in range(DOC_WORDS))
        (folder / f"page-{n:04d}.md").write_text(f"# Page {n}\n\n{words}.\n", encoding="utf-8")
    return folder


async def _questions(
    ask: Callable[[], Awaitable[float]], count: int, busy: asyncio.Future[Any] | None
) -> list[float]:
    """Up to `count` question times, asked one after another with a random pause of up to half a second
    between them, so they land anywhere inside a sync's batches (while `busy` runs, when given)."""
    rng = random.Random(count)
    times: list[float] = []
    while len(times) < count and (busy is None or not busy.done()):
        times.append(await ask())
        await asyncio.sleep(rng.uniform(0, 0.5))
    return times


async def _worker_sync(corpus: Path, data_dir: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "LORE_DATA_DIR": str(data_dir)}
    args = ["-m", "lore.cli", "ingest", str(corpus), "--source", "busy", "--access", "public"]
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


async def measure(work: Path, documents: int = 150, questions: int = 20) -> BusyLatency:
    """Idle, embedded and worker phases of `questions` each (fewer if a sync ends first)."""
    shutil.rmtree(work, ignore_errors=True)
    texts = _texts()
    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(LLMStandin(replies=[REPLY]))
        slack = await stack.enter_async_context(SlackStandin())
        workspace(slack)
        base = bench_settings(work / "bot", rate_limit=0, llm_base_url=llm.base_url)
        settings = bot_settings(base, slack, stream_interval=base.stream_interval)
        cache = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "embeddings.sqlite"
        embedder = CachedEmbedder(open_model(settings), EmbeddingCache(cache))
        kb = await stack.enter_async_context(Knowledge(settings, open_index(settings), embedder))
        folder = work / "docs"
        folder.mkdir(parents=True)
        for name, text in DOCS.items():
            (folder / name).write_text(text, encoding="utf-8")
        await ingest(kb, [folder], "handbook", [PUBLIC], workers=0)
        store = MemoryStore()
        stack.push_async_callback(store.close)
        bot = await stack.enter_async_context(bot_harness(kb, [store], settings, slack))

        async def ask() -> float:
            trip, _, _, done = await _ask(bot, DM, next(texts))
            return done - trip.sent

        await _questions(ask, 3, None)  # warm-up: model load, first connections
        idle = await _questions(ask, questions, None)

        corpus = long_corpus(work / "corpus", documents, seed=1)
        calls = embedder.calls
        sync = asyncio.ensure_future(ingest(kb, [corpus], "busy", [PUBLIC], workers=1))
        while embedder.calls == calls and not sync.done():  # noqa: ASYNC110 (until a batch is embedding)
            await asyncio.sleep(0.05)
        embedded = await _questions(ask, questions, sync)
        sync.cancel()
        await asyncio.gather(sync, return_exceptions=True)

        worker = await _worker_sync(long_corpus(work / "corpus2", documents, seed=2), work / "worker")
        exited = asyncio.ensure_future(worker.wait())
        await asyncio.sleep(8)  # the process has started, loaded the model and is embedding
        beside_worker = await _questions(ask, questions, exited)
        if worker.returncode is None:
            worker.kill()
        await exited
    idle_spread = Spread.of(idle)
    phases = [Phase(name="idle", questions=len(idle), done_ms=idle_spread)]
    for name, times in (("sync in the bot's process", embedded), ("sync by a worker process", beside_worker)):
        spread = Spread.of(times) if times else Spread(p50=float("nan"), p95=float("nan"))
        phases.append(
            Phase(
                name=name,
                questions=len(times),
                done_ms=spread,
                p50_ratio=spread.p50 / idle_spread.p50,
                p95_ratio=spread.p95 / idle_spread.p95,
            )
        )
    return BusyLatency(documents=documents, phases=phases)


def report(runs: list[BusyLatency], command: str) -> str:
    """The Markdown section: each phase's p50 and p95 and their ratios to idle, medians over the runs."""
    names = [p.name for p in runs[0].phases]
    rows = []
    for i, name in enumerate(names):
        phases = [r.phases[i] for r in runs]
        rows.append(
            f"| {name} | {sum(p.questions for p in phases)} | {_median(p.done_ms.p50 for p in phases):.0f} | "
            f"{_median(p.done_ms.p95 for p in phases):.0f} | {_median(p.p50_ratio for p in phases):.2f}x | "
            f"{_median(p.p95_ratio for p in phases):.2f}x |"
        )
    return (
        "## Questions during a large sync\n\n"
        f"`{command}` (bench/busy_latency.py). A DM question to the bot (signed event to `chat.stopStream` "
        "at the Slack stand-in, instant LLM stand-in) on a small embedded index: idle; while a sync of "
        f"{runs[0].documents} pages of about 512 tokens embeds inside the bot's process (embedded mode's "
        "scheduled sync); and while a separate `lore ingest` process embeds the same amount on the same "
        "cores (as a `lore worker` on the same machine would). Medians over "
        f"{len(runs)} runs of each phase's p50 and p95 and of their ratios to the idle phase of the "
        "same run.\n\n"
        "| phase | questions | p50 ms | p95 ms | p50 / idle | p95 / idle |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))
