"""What context windows cost: Lore's retrieval with and without them on a Qdrant Edge index of 10k+ chunks.

Synthetic documents of 50 chunks each: prose of random words (about 220 tokens a chunk, the last 30 words of a
chunk repeated at the start of the next, as the chunker's overlap does), an acl as in `index_speed` (10%
public, else one of 20 groups), BM25 vectors from Lore's encoder and dense vectors from `HashEmbedder`, a
deterministic stand-in (not a model: the question's embedding costs the same with and without windows, about
18 ms with the bundled model, and is left out so that the difference shows). The questions are asked as a
principal who may read about 19% of the chunks, interleaved over the rows; medians.

    .venv/bin/python -m bench.window_speed [--work DIR] [--chunks 10000] [--questions 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from bench.common import bench_settings, table
from bench.hash_embedder import HashEmbedder
from knowledge.index.edge import EdgeIndex
from knowledge.models import Chunk, IndexedChunk
from knowledge.retrieval import Retriever
from knowledge.sparse import SparseEncoder, Tokenizer
from knowledge.windows import neighbourhoods, reach, windows

PER_DOC = 50
WORDS_PER_CHUNK = 170  # new words a chunk (about 220 tokens with its overlap)
OVERLAP_WORDS = 30
PART = 10  # chunks of one section (a heading); the chunker's overlap stays within a section
GROUPS = 20
GRANTS = ["public", "group:g3", "group:g7"]
COMMAND = ".venv/bin/python -m bench.window_speed --work .lore-bench/windows"


class Row(BaseModel):
    """One way of retrieving, median ms."""

    name: str
    ms: float
    ratio: float | None = None


class WindowSpeed(BaseModel):
    """The measured rows and what they were measured on."""

    chunks: int
    questions: int
    budget: int
    reach: int
    hits_windowed: float
    ids_asked: float
    rows: list[Row]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghiklmnoprstuvw"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def _prose(rng: random.Random, words: list[str], count: int) -> str:
    out: list[str] = []
    while len(out) < count:
        sentence = rng.choices(words, k=rng.randint(6, 16))
        out += [sentence[0].capitalize(), *sentence[1:-1], sentence[-1] + "."]
    return " ".join(out[:count])


def _document(rng: random.Random, words: list[str], doc: str, acl: list[str]) -> list[Chunk]:
    chunks: list[Chunk] = []
    tail: list[str] = []
    now = datetime.now(UTC)
    for no in range(PER_DOC):
        body = _prose(rng, words, WORDS_PER_CHUNK).split()
        text = " ".join([*tail, *body])
        tail = body[-OVERLAP_WORDS:] if (no + 1) % PART != 0 else []  # no overlap into the next part
        chunks.append(
            Chunk(
                source_id="bench",
                doc_id=doc,
                chunk_no=no,
                title=doc,
                heading_path=[doc, f"Part {no // PART}"],
                text=text,
                updated_at=now,
                acl=acl,
            )
        )
    return chunks


async def build(index: EdgeIndex, chunks: int, seed: int = 5) -> list[str]:
    """Fill `index` with `chunks` synthetic chunks (unless it holds them); the vocabulary used."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    if await index.count() >= chunks:
        return words
    embedder, sparse = HashEmbedder(), SparseEncoder(Tokenizer(cjk="bigram"))
    for n in range(0, chunks, PER_DOC):
        acl = ["public"] if rng.random() < 0.1 else [f"group:g{rng.randrange(GROUPS)}"]
        doc = f"doc{n // PER_DOC}.md"
        items = _document(rng, words, doc, acl)
        dense = await embedder.embed_passages([c.embedding_text() for c in items])
        stored = [
            IndexedChunk(chunk=c, dense=d, sparse=sparse.encode_passage(c.embedding_text()))
            for c, d in zip(items, dense, strict=True)
        ]
        await index.replace_document("bench", doc, stored)
    await index.optimize()
    return words


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def measure(work: Path, chunks: int = 10_000, questions: int = 200) -> WindowSpeed:
    """Time retrieval without windows, with adjacent hits joined, and with default windows; and the
    neighbour lookup and the window building alone, on the same hits."""
    settings = bench_settings(work / "windows-index")
    index = EdgeIndex(settings.index_dir, 384)
    words = await build(index, chunks)
    retriever = Retriever(index, HashEmbedder(), SparseEncoder(Tokenizer(cjk="bigram")), settings)
    budget = settings.window_tokens
    around = reach(budget, settings.chunk_size, settings.chunk_overlap)
    pool_size = settings.top_k * 2  # the hits windows start from, as `Retriever.search` takes them
    wide = settings.model_copy(update={"max_chunks_per_doc": settings.max_chunks_per_doc * 2})
    pooling = Retriever(index, retriever.embedder, retriever.sparse, wide)
    rng = random.Random(17)
    names = ["no windows", "adjacent hits joined (0 tokens)", f"windows of {budget} tokens (default)"]
    times: dict[str, list[float]] = {name: [] for name in [*names, "lookup", "build"]}
    sizes: list[tuple[int, int]] = []
    for _ in range(questions):
        query = " ".join(rng.sample(words, 4))
        started = time.perf_counter()
        await retriever.search(query, GRANTS, merge=False)
        times[names[0]].append(_since(started))
        bare = await pooling.search(query, GRANTS, k=pool_size, merge=False)
        for name, budget_tokens in ((names[1], 0), (names[2], budget)):
            started = time.perf_counter()
            await retriever.search(query, GRANTS, window_tokens=budget_tokens)
            times[name].append(_since(started))
        ranges = neighbourhoods(bare, around)
        started = time.perf_counter()
        found = await index.chunk_ranges(ranges, GRANTS)
        times["lookup"].append(_since(started))
        started = time.perf_counter()
        windows(bare, found, budget, settings.top_k, settings.max_chunks_per_doc)
        times["build"].append(_since(started))
        sizes.append((len(bare), len({(r.doc_id, n) for r in ranges for n in r.numbers()})))
    await index.close()
    base = statistics.median(times[names[0]])
    rows = [
        Row(name=n, ms=statistics.median(times[n]), ratio=statistics.median(times[n]) / base) for n in names
    ]
    rows += [
        Row(
            name=f"the neighbour lookup alone (`chunk_ranges`, ±{around} chunks)",
            ms=statistics.median(times["lookup"]),
        ),
        Row(name="building the windows alone (CPU)", ms=statistics.median(times["build"])),
    ]
    return WindowSpeed(
        chunks=chunks,
        questions=questions,
        budget=budget,
        reach=around,
        hits_windowed=statistics.fmean(h for h, _ in sizes),
        ids_asked=statistics.fmean(i for _, i in sizes),
        rows=rows,
    )


def report(r: WindowSpeed, command: str = COMMAND) -> str:
    """The Markdown section."""
    body = table(
        ["retrieval (`Retriever.search`, hybrid, filtered)", "p50 ms", "ratio to no windows"],
        [[row.name, f"{row.ms:.2f}", "" if row.ratio is None else f"{row.ratio:.2f}"] for row in r.rows],
    )
    return (
        "## Context windows: what they cost\n\n"
        f"`{command}`. {r.questions} questions on a Qdrant Edge index of {r.chunks:,} synthetic chunks "
        f"({PER_DOC} per document), as a principal who may read about 19% of them (bench/window_speed.py). "
        f"The neighbours of the best {r.hits_windowed:.0f} hits (twice top k; ±{r.reach} chunks, "
        f"{r.ids_asked:.0f} point ids on average) come in one filtered call; windows are then grown in rank "
        "order until top k are made. The question's embedding is a stand-in here: the bundled model's (about "
        "18 ms on an idle machine) adds the same to every row.\n\n" + body + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".lore-bench/windows"))
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    print(report(asyncio.run(measure(args.work, args.chunks, args.questions))))


if __name__ == "__main__":
    main()
