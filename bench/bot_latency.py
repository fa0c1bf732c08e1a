"""Bot latency: from a signed Slack event arriving to Lore's first reply at the Slack stand-in, on a large
Qdrant Edge index, with an instant LLM stand-in; against the raw cost of embedding the question plus one
filtered index query, measured in the same run; and a burst of questions at once.

The index holds synthetic chunks (random unit vectors, BM25 vectors of made-up text whose vocabulary
includes the real documents' words, a tenth of them `group:finance`) and a handful of real documents
embedded with the bundled model, whose questions are asked. Every question text is distinct, so each one is
really embedded. Questions are asked as mentions in a channel and in a DM (see `PLACES`). The bot, the
Slack stand-in and the LLM stand-in share this process and its event loop, so the stand-ins'
`time.monotonic()` stamps compare with the sender's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from bench.common import bench_settings, ingest
from bench.index_speed import PER_DOC, unit_vectors
from bot.runtime import BotRuntime
from knowledge.access import PUBLIC, Principal
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.factory import open_model
from knowledge.index.base import HybridQuery, Index
from knowledge.index.factory import open_index
from knowledge.kv.memory import MemoryStore
from knowledge.models import Chunk, IndexedChunk
from knowledge.service import Knowledge
from knowledge.sparse import SparseEncoder
from tests.bot_harness import BOB, Bot, bot_harness, bot_settings, workspace
from tests.llm_standin import LLMStandin
from tests.slack_standin import SlackStandin

DOCS = {
    "expenses.md": "# Expenses\n\nMeals on business trips are reimbursed up to 75 euros a day. Hotels are "
    "reimbursed up to 200 euros a night; submit receipts in Navan within 30 days.\n",
    "time-off.md": "# Time off\n\nEveryone gets 25 days of paid holiday per year. Holidays are requested in "
    "Workday at least two weeks ahead and approved by your manager.\n",
    "onboarding.md": "# Onboarding\n\nNew hires get their laptop on the first day from IT. The onboarding "
    "buddy programme pairs each new hire with a colleague for the first six weeks.\n",
    "security.md": "# Security\n\nLost or stolen laptops are reported to security@example.com within one "
    "hour. Passwords are kept in 1Password; two-factor authentication is required everywhere.\n",
    "remote.md": "# Remote work\n\nEmployees may work remotely up to three days a week. A home office "
    "budget of 500 euros covers a desk, a chair and a monitor.\n",
}
FINANCE_DOC = (
    "payroll.md",
    "# Payroll\n\nPayroll runs on the 25th of each month; bonuses are paid in March.\n",
)
QUESTIONS = [
    "How much are meals reimbursed on business trips?",
    "How many days of paid holiday do we get per year?",
    "When do new hires get their laptop?",
    "Whom do I tell when my laptop is stolen?",
    "How many days a week may I work remotely?",
]
REPLY = "Meals are reimbursed up to 75 euros a day [1]."
ASKER = BOB  # not in finance: the access filter leaves the finance share out

SYNTHETIC = "synthetic"
FINANCE_SHARE = 0.1
WORDS_PER_CHUNK = 150  # about a 256-token chunk
MADE_UP_WORDS = 5000
SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "sol", "vu", "pe", "dor", "an", "is", "ul", "bre", "qua", "zen"]
BUILT = "bot-bench.json"  # marks a finished build in the data dir, so the next run reuses it
BURST_TIMEOUT = 120.0
REPLY_CALLS = ("assistant.threads.setStatus", "chat.startStream", "chat.postMessage")
TEXT_CALLS = ("chat.startStream", "chat.postMessage")


class Spread(BaseModel):
    """Median and 95th percentile, in milliseconds."""

    p50: float
    p95: float

    @classmethod
    def of(cls, seconds: list[float]) -> Spread:
        """The spread of durations given in seconds."""
        ms = np.asarray(seconds) * 1000
        return cls(p50=float(np.percentile(ms, 50)), p95=float(np.percentile(ms, 95)))


@dataclass(frozen=True)
class Place:
    """Where questions are asked: a mention in a channel, or a DM."""

    name: str
    channel: str
    dm: bool


# In #general (Ana, Bob, Carl) Lore answers from what all of them may read and, since the asker's grants
# exceed that (his own user:… grant at least), also searches as him for a private offer: a second retrieval.
# In his DM it answers from his own grants, one retrieval.
PLACES = [Place("mention in #general", "CGENERAL", dm=False), Place("DM", f"D{ASKER}", dm=True)]
CHANNEL = PLACES[0]


class Timed(BaseModel):
    """The figures of the questions asked in one place."""

    place: str
    ack_ms: Spread
    first_reply_ms: Spread  # assistant.threads.setStatus, sent before retrieval
    first_text_ms: Spread  # chat.startStream carrying the answer's first words
    done_ms: Spread  # chat.stopStream


class BotLatency(BaseModel):
    """Timed questions to the bot, the raw retrieval cost beside them, and one burst."""

    chunks: int
    build_s: float  # 0 when a cached index was reused
    runs: int
    warmup: int
    timed: list[Timed]
    raw_ms: float  # median of embed_query + one filtered hybrid query
    hits_ms: float  # median of kb.hits, Lore's whole retrieval step
    burst: int
    burst_acked: int
    burst_max_ack_ms: float
    burst_answered: int
    burst_last_s: float

    def ratio(self, ms: float) -> float:
        """A time over the median raw cost (embedding the question plus one index query)."""
        return ms / self.raw_ms


@dataclass
class Trip:
    """One question POSTed to the bot: its thread, when it was sent and acknowledged (monotonic)."""

    place: Place
    ts: str
    sent: float
    acked: float
    status: int


# ----- the index


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Made-up words plus the real documents' words, shuffled; Zipf cumulative weights by position."""
    made_up = {"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(MADE_UP_WORDS)}
    real = {w for text in [*DOCS.values(), FINANCE_DOC[1]] for w in re.findall(r"[a-z]+", text.lower())}
    words = sorted(made_up | real)
    rng.shuffle(words)
    return words, list(itertools.accumulate(1 / rank for rank in range(1, len(words) + 1)))


async def _fill(index: Index, sparse: SparseEncoder, chunks: int, seed: int) -> None:
    """`chunks` synthetic chunks in documents of `PER_DOC`, each document public or finance-only."""
    rng = random.Random(seed)
    words, weights = _vocabulary(rng)
    vectors = unit_vectors(chunks, seed)
    now = datetime.now(UTC)
    for start in range(0, chunks, PER_DOC):
        acl = ["group:finance"] if rng.random() < FINANCE_SHARE else [PUBLIC]
        doc = f"doc{start // PER_DOC}.md"
        items = []
        for i in range(min(PER_DOC, chunks - start)):
            text = " ".join(rng.choices(words, cum_weights=weights, k=WORDS_PER_CHUNK))
            chunk = Chunk(
                source_id=SYNTHETIC, doc_id=doc, chunk_no=i, title=doc, text=text, updated_at=now, acl=acl
            )
            dense = vectors[start + i].tolist()
            items.append(IndexedChunk(chunk=chunk, dense=dense, sparse=sparse.encode_passage(text)))
        await index.replace_document(SYNTHETIC, doc, items)
        if (start + PER_DOC) % 20_000 == 0:
            print(f"  bot: {start + PER_DOC} synthetic chunks stored", file=sys.stderr)


async def build(data_dir: Path, chunks: int, seed: int = 7) -> float:
    """The bench's data dir: synthetic chunks plus the real documents (ingested like `lore ingest`), HNSW
    built. Returns the seconds it took, 0.0 when a finished build of this size is already there."""
    marker = data_dir / BUILT
    recipe = {"chunks": chunks, "seed": seed, "words": WORDS_PER_CHUNK}
    if marker.exists() and json.loads(marker.read_text()) == recipe:
        return 0.0
    shutil.rmtree(data_dir, ignore_errors=True)
    started = time.perf_counter()
    async with await Knowledge.open(bench_settings(data_dir)) as kb:
        await _fill(kb.index, kb.sparse, chunks, seed)
        for name, files, acl in (
            ("handbook", DOCS, [PUBLIC]),
            ("finance", dict([FINANCE_DOC]), ["group:finance"]),
        ):
            folder = data_dir / "docs" / name
            folder.mkdir(parents=True)
            for file, text in files.items():
                (folder / file).write_text(text, encoding="utf-8")
            await ingest(kb, [folder], name, acl, workers=0)  # optimizes: HNSW is built here
    marker.write_text(json.dumps(recipe))
    return time.perf_counter() - started


# ----- the bot


def _texts() -> Iterator[str]:
    """Distinct question texts, so no cache anywhere answers one."""
    for i in itertools.count():
        yield f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"


async def _post(bot: Bot, place: Place, text: str) -> Trip:
    ts = bot.next_ts()
    event = {"user": ASKER, "ts": ts, "channel": place.channel, "event_ts": ts}
    if place.dm:
        event |= {"type": "message", "channel_type": "im", "text": text}
    else:
        event |= {"type": "app_mention", "text": f"<@{bot.slack.bot_user_id}> {text}"}
    sent = time.monotonic()
    status = await bot.event(event)
    return Trip(place=place, ts=ts, sent=sent, acked=time.monotonic(), status=status)


def _milestones(slack: SlackStandin, trip: Trip) -> tuple[float | None, float | None, float | None]:
    """When the stand-in received the thread's first reply call, first answer text and stopStream."""
    where, ts = trip.place.channel, trip.ts
    streams = {m.ts for m in slack.replies_in(where, ts)}
    first_reply = first_text = done = None
    for call in slack.calls:
        args = call.args
        if (args.get("channel_id") or args.get("channel")) != where:
            continue
        in_thread = args.get("thread_ts") == ts
        if in_thread and call.method in REPLY_CALLS and first_reply is None:
            first_reply = call.at
        if in_thread and call.method in TEXT_CALLS and first_text is None:
            first_text = call.at
        if call.method == "chat.stopStream" and args.get("ts") in streams and done is None:
            done = call.at
    return first_reply, first_text, done


async def _ask(bot: Bot, place: Place, text: str) -> tuple[Trip, float, float, float]:
    """One question, waited for: the trip and its first reply call, first text and end (monotonic)."""
    trip = await _post(bot, place, text)
    if trip.status != 200:
        raise RuntimeError(f"the bot answered HTTP {trip.status} to a signed event")
    replies = await bot.answer_in(place.channel, trip.ts)
    first_reply, first_text, done = _milestones(bot.slack, trip)
    if first_reply is None or first_text is None or done is None:
        raise RuntimeError(f"{text!r} got no streamed answer; the thread has {[m.text for m in replies]}")
    return trip, first_reply, first_text, done


async def _audience(runtime: BotRuntime) -> Principal:
    """What the bot answers the asker from in the channel (as `Answering._audience` computes it)."""
    asker = await runtime.identity.principal("T1", ASKER)
    everyone = await runtime.identity.audience("T1", CHANNEL.channel)
    return Principal(grants=(everyone.principal.grants & asker.grants) | {PUBLIC})


async def _raw(kb: Knowledge, grants: list[str], text: str) -> float:
    """Seconds to embed `text` and run one filtered hybrid query (fused in the engine) as deep as Lore's."""
    sparse = kb.sparse.encode_query(text)  # not timed: BM25 encoding is not the embedding
    s = kb.settings
    started = time.perf_counter()
    dense = await kb.embedder.embed_query(text)
    await kb.index.query(
        HybridQuery(
            grants=grants,
            dense=dense,
            sparse=sparse,
            limit=max(s.prefetch, 4 * s.top_k),
            prefetch=s.prefetch,
            dense_weight=s.dense_weight,
            sparse_weight=s.sparse_weight,
            rrf_k=s.rrf_k,
        )
    )
    return time.perf_counter() - started


async def _hits(kb: Knowledge, audience: Principal, text: str) -> float:
    started = time.perf_counter()
    await kb.hits(text, audience)
    return time.perf_counter() - started


async def _burst(bot: Bot, texts: list[str]) -> tuple[list[Trip], list[float | None], float]:
    """All `texts` POSTed at once; the trips, each thread's stopStream time, and when the burst began."""
    stops = len(bot.slack.calls_to("chat.stopStream"))
    started = time.monotonic()
    trips = await asyncio.gather(*(_post(bot, CHANNEL, text) for text in texts))
    try:
        await bot.slack.wait_until(
            lambda: len(bot.slack.calls_to("chat.stopStream")) >= stops + len(texts),
            f"{len(texts)} burst answers",
            BURST_TIMEOUT,
        )
    except TimeoutError as exc:
        print(f"  bot: {exc}", file=sys.stderr)  # counted below as unanswered
    await bot.settle()
    return list(trips), [_milestones(bot.slack, t)[2] for t in trips], started


def _timed(place: str, asked: list[tuple[Trip, float, float, float]]) -> Timed:
    return Timed(
        place=place,
        ack_ms=Spread.of([t.acked - t.sent for t, *_ in asked]),
        first_reply_ms=Spread.of([reply - t.sent for t, reply, _, _ in asked]),
        first_text_ms=Spread.of([text - t.sent for t, _, text, _ in asked]),
        done_ms=Spread.of([end - t.sent for t, _, _, end in asked]),
    )


async def measure(work: Path, chunks: int, runs: int = 30, burst: int = 50, warmup: int = 2) -> BotLatency:
    """Build (or reuse) the index under `work`, serve the bot, time `runs` questions one at a time in each
    place (after `warmup` uncounted ones each) with the raw retrieval cost between them, then a burst of
    `burst` channel mentions at once."""
    data_dir = work / f"bot-{chunks}"
    build_s = await build(data_dir, chunks)
    texts = _texts()
    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(LLMStandin(replies=[REPLY]))
        slack = await stack.enter_async_context(SlackStandin())
        workspace(slack)
        base = bench_settings(data_dir, rate_limit=0, llm_base_url=llm.base_url)
        settings = bot_settings(base, slack, stream_interval=base.stream_interval)  # the default, not 0.01
        cache = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "embeddings.sqlite"
        embedder = CachedEmbedder(open_model(settings), EmbeddingCache(cache))
        kb = await stack.enter_async_context(Knowledge(settings, open_index(settings), embedder))
        store = MemoryStore()
        stack.push_async_callback(store.close)
        bot = await stack.enter_async_context(bot_harness(kb, [store], settings, slack))

        for _ in range(warmup):  # model load, first connections to the stand-ins
            for place in PLACES:
                await _ask(bot, place, next(texts))
        audience = await _audience(bot.runtimes[0])
        await _raw(kb, audience.sorted(), next(texts))
        await _hits(kb, audience, next(texts))
        asked: dict[Place, list[tuple[Trip, float, float, float]]] = {place: [] for place in PLACES}
        raw, hits = [], []
        for _ in range(runs):  # interleaved, so machine noise hits every side alike
            for place in PLACES:
                asked[place].append(await _ask(bot, place, next(texts)))
            raw.append(await _raw(kb, audience.sorted(), next(texts)))
            hits.append(await _hits(kb, audience, next(texts)))
        trips, done, began = await _burst(bot, [next(texts) for _ in range(burst)])

    finished = [d for d in done if d is not None]
    return BotLatency(
        chunks=chunks,
        build_s=build_s,
        runs=runs,
        warmup=warmup,
        timed=[_timed(place.name, times) for place, times in asked.items()],
        raw_ms=float(np.median(raw)) * 1000,
        hits_ms=float(np.median(hits)) * 1000,
        burst=burst,
        burst_acked=sum(t.status == 200 for t in trips),
        burst_max_ack_ms=max((t.acked - t.sent for t in trips), default=math.nan) * 1000,
        burst_answered=len(finished),
        burst_last_s=max(finished, default=math.nan) - began,
    )
