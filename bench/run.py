"""`make bench`: retrieval quality, index speed, ingestion speed and bot latency; prints tables and writes
docs/benchmarks.md.

    .venv/bin/python -m bench.run [--quick] [--answers-only]
        [--only quality,retrieval,index,windows,ingest,bot,audience,busy,sync,federation,connectors]
        [--out FILE]

The quality section (bench/quality/: every kind of question against a BM25 peer, and extractive answers)
keeps its indexes and one embedding cache in the work dir and reuses them while their inputs are unchanged.

The embedding cache of the retrieval corpora lives in `.lore-bench/` so that a second run is fast, and so
does the bot benchmark's 100k-chunk index (built once, a few minutes); the ingestion-speed run always starts
from an empty data dir (cold cache). The sync-speed section (worker job path, 10k-document re-sync), the
federated-search section (a remote `lore api` process) and the connector-listing section (real nginx,
MediaWiki and Samba servers) are opt-in: `--only sync`, `--only federation`, `--only connectors`.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    audience,
    bot_latency,
    busy_latency,
    connectors,
    federation,
    index_speed,
    ingest_speed,
    smb_latency,
    sync_speed,
    window_speed,
)
from bench.common import DATA, bench_settings, ingest, table
from bench.quality import report as quality_report
from bench.quality import suite as quality_suite
from bench.retrieval import Score, cmrc_corpus, evaluate, handbook_questions, temp_folder
from knowledge.service import Knowledge
from tests.conftest import serving

SPEED_PAGES = [
    "finance/expenses.md",
    "communication/chat.md",
    "company/structure.md",
    "hiring/job-families.md",
    "sales/meddppicc.md",
    "ceo/shadow.md",
]


def _score_rows(name: str, scores: list[Score]) -> list[list[str]]:
    return [[name, s.mode, f"{s.recall5:.3f}", f"{s.mrr10:.3f}", str(s.questions)] for s in scores]


async def retrieval(data: Path, work: Path, quick: bool, **overrides: object) -> list[list[str]]:
    """Dense, sparse and hybrid scores on the handbook and on CMRC 2018."""
    rows: list[list[str]] = []
    settings = bench_settings(work / "retrieval", **overrides)
    async with await Knowledge.open(settings) as kb:
        pages = data / "handbook" / "pages"
        result = await ingest(kb, [pages], "handbook", ["public"])
        print(f"  handbook: {result.line()}", file=sys.stderr)
        questions = handbook_questions(data / "handbook", limit=10 if quick else None)
        rows += _score_rows("handbook single_text", await evaluate(kb, questions, "handbook"))
        with temp_folder() as folder:
            cmrc = cmrc_corpus(
                data / "cmrc2018" / "cmrc2018_dev.json",
                Path(folder),
                contexts=40 if quick else None,
                per_context=1 if quick else 2,
            )
            result = await ingest(kb, [Path(folder)], "cmrc", ["public"])
            print(f"  cmrc: {result.line()}", file=sys.stderr)
            rows += _score_rows("cmrc2018 dev", await evaluate(kb, cmrc, "cmrc"))
    return rows


async def chunk_sweep(data: Path, work: Path, sizes: list[int]) -> list[list[str]]:
    """Handbook single_text scores for several chunk sizes (overlap = size / 8), each on its own index."""
    rows: list[list[str]] = []
    questions = handbook_questions(data / "handbook")
    for size in sizes:
        settings = bench_settings(work / f"chunks-{size}", chunk_size=size, chunk_overlap=size // 8)
        async with await Knowledge.open(settings) as kb:
            result = await ingest(kb, [data / "handbook" / "pages"], "handbook", ["public"])
            print(f"  chunk size {size}: {result.line()}", file=sys.stderr)
            chunks = await kb.index.count("handbook")
            for score in await evaluate(kb, questions, "handbook"):
                rows.append(
                    [
                        str(size),
                        str(size // 8),
                        str(chunks),
                        score.mode,
                        f"{score.recall5:.3f}",
                        f"{score.mrr10:.3f}",
                    ]
                )
    return rows


async def run(args: argparse.Namespace) -> str:
    """Run the chosen benchmarks; return the Markdown report."""
    only = set(args.only.split(","))
    work = Path(args.work)
    sections = [
        f"# Benchmarks\n\nWritten by `make bench` on {datetime.now(UTC):%Y-%m-%d} "
        f"({platform.machine()}, {platform.python_version()}). Figures are medians where timed; "
        "machines are noisy, compare ratios.\n"
    ]
    if "quality" in only:
        corpora = set(args.quality_corpora.split(",")) if args.quality_corpora else None
        sections.append(
            await quality_section(
                args.data, work, args.quick, corpora, args.answers_only, args.llm, args.llm_model
            )
        )
    if "retrieval" in only:
        started = time.perf_counter()
        rows = await retrieval(args.data, work, args.quick)
        sections.append(
            "## Retrieval\n\nEvidence recall@5 and MRR@10 inside an 8,000-character context "
            "budget (see bench/retrieval.py), one index, three modes, as `{public}`.\n\n"
            + table(["set", "mode", "recall@5", "MRR@10", "questions"], rows)
            + f"\n\n({time.perf_counter() - started:.0f} s)\n"
        )
    if args.chunk_sizes:
        sizes = [int(x) for x in args.chunk_sizes.split(",")]
        rows = await chunk_sweep(args.data, work, sizes)
        sections.append(
            "## Chunk size (handbook single_text)\n\nThe same measure, one index per chunk size.\n\n"
            + table(["size", "overlap", "chunks", "mode", "recall@5", "MRR@10"], rows)
            + "\n"
        )
    if "index" in only:
        rows = []
        for size in [2000] if args.quick else [10_000, 100_000]:
            with temp_folder() as folder:
                r = await index_speed.measure(Path(folder) / "index", size, queries=50 if args.quick else 300)
            rows.append(
                [
                    str(r.chunks),
                    str(r.hnsw_vectors),
                    f"{r.build_s:.1f}",
                    f"{r.unfiltered_ms:.2f}",
                    f"{r.filtered_ms:.2f}",
                    f"{r.ratio:.2f}",
                    f"{r.api_filtered_ms:.2f}",
                ]
            )
        sections.append(
            "## Index: filtered vs unfiltered (Qdrant Edge)\n\nHybrid query (dense + sparse "
            "prefetch, RRF), acl filter admitting about 19% of the chunks; median ms.\n\n"
            + table(
                [
                    "chunks",
                    "indexed vectors (dense+sparse)",
                    "build s",
                    "unfiltered ms",
                    "filtered ms",
                    "ratio",
                    "Lore API filtered ms",
                ],
                rows,
            )
            + "\n"
        )
    if "ingest" in only:
        pages = SPEED_PAGES[:2] if args.quick else SPEED_PAGES
        with temp_folder() as folder:
            speed = await ingest_speed.measure(
                [args.data / "handbook" / "pages" / p for p in pages], Path(folder)
            )
        sections.append(
            "## Ingestion speed\n\n"
            + table(
                [
                    "documents",
                    "chunks",
                    "ingest s",
                    "chunks/s",
                    "raw embed chunks/s",
                    "ratio",
                    "re-run s",
                    "re-run fraction",
                ],
                [
                    [
                        str(speed.documents),
                        str(speed.chunks),
                        f"{speed.ingest_s:.1f}",
                        f"{speed.chunks / speed.ingest_s:.2f}",
                        f"{speed.chunks / speed.raw_embed_s:.2f}",
                        f"{speed.ratio:.2f}",
                        f"{speed.rerun_s:.3f}",
                        f"{speed.rerun_fraction:.4f}",
                    ]
                ],
            )
            + "\n"
        )
    if "bot" in only:
        sections.append(await bot_section(work, args.quick))
    if "audience" in only:
        measured = await audience.measure(1000, 3000, runs=1 if args.quick else 3)
        sections.append(audience.report(measured, AUDIENCE_COMMAND))
    if "busy" in only:
        busy = [await busy_latency.measure(work / "busy") for _ in range(1 if args.quick else 3)]
        sections.append(busy_latency.report(busy, BUSY_COMMAND))
    if "windows" in only:
        chunks, questions = (2000, 50) if args.quick else (10_000, 200)
        measured_windows = await window_speed.measure(work / "windows", chunks, questions)
        sections.append(window_speed.report(measured_windows, WINDOWS_COMMAND))
    if "sync" in only:
        sections.append(await sync_section(args.data, args.quick))
    if "federation" in only:
        sections.append(await federation_section(args.quick))
    if "connectors" in only:
        sections.append(await connectors.section(args.quick))
        runs, files = (1, 50) if args.quick else (3, 300)
        sections.append(smb_latency.report(await smb_latency.measure(runs, files, [1.0, 5.0])))
    return "\n".join(sections)


QUALITY_COMMAND = ".venv/bin/python -m bench.run --only quality --work .lore-bench --out /tmp/quality.md"


async def quality_section(
    data: Path,
    work: Path,
    quick: bool,
    corpora: set[str] | None = None,
    answers_only: bool = False,
    llm: str = "",
    llm_model: str = "",
) -> str:
    """Every kind of question against the BM25 peer, in English and Chinese; extractive answers
    (`answers_only`: those alone); with `llm` (an OpenAI-compatible base URL; its key from
    `LORE_LLM_API_KEY`), the second search that model plans, as a further system."""
    started = time.perf_counter()
    planner = bench_settings(work, llm_base_url=llm, llm_model=llm_model) if llm else None
    plain = bench_settings(work, llm_base_url=None)  # the answers measured are extractive, whatever the env
    results = await quality_suite.run(data, work, quick, plain, corpora, answers_only, planner)
    for miss in results.misses:
        print(f"  hybrid missed ({miss.kind}, {miss.spans:.2f} of spans): {miss.standalone}", file=sys.stderr)
    return quality_report.section(results, QUALITY_COMMAND) + f"\n({time.perf_counter() - started:.0f} s)\n"


WINDOWS_COMMAND = ".venv/bin/python -m bench.run --only windows --out /tmp/windows.md"


async def bot_section(work: Path, quick: bool) -> str:
    """Event-to-reply latency of the bot on a large index, against the raw retrieval cost; a burst."""
    r = await bot_latency.measure(
        work, 2_000 if quick else 100_000, runs=5 if quick else 30, burst=50, warmup=2
    )
    rows = [
        [
            t.place,
            f"{t.ack_ms.p50:.1f}",
            f"{t.first_reply_ms.p50:.1f} / {t.first_reply_ms.p95:.1f}",
            f"{t.first_text_ms.p50:.1f} / {t.first_text_ms.p95:.1f}",
            f"{t.done_ms.p50:.1f} / {t.done_ms.p95:.1f}",
            f"{r.ratio(t.first_reply_ms.p50):.2f}",
            f"{r.ratio(t.first_text_ms.p50):.2f}",
        ]
        for t in r.timed
    ]
    built = f"built in {r.build_s:.0f} s" if r.build_s else "reused from the work dir"
    return (
        f"## Bot latency\n\nFrom a signed event POSTed to the bot (HTTP mode) to what the Slack stand-in "
        f"receives, with an instant LLM stand-in, on a Qdrant Edge index of {r.chunks:,} chunks ({built}; "
        "synthetic vectors, BM25 vectors of synthetic text, 10% `group:finance`) plus the real documents "
        f"asked about. {r.runs} questions per row, one at a time, after {r.warmup} uncounted warm-up "
        "questions per row (model load, first connections). *First reply call*: "
        "`assistant.threads.setStatus`, sent before retrieval; *first answer text*: `chat.startStream` "
        "with the answer's first words; *finished*: `chat.stopStream`. *Raw*: embedding the question plus "
        "one filtered hybrid query (dense + sparse fused in the engine), timed between the bot's questions: "
        f"median **{r.raw_ms:.1f} ms**; Lore's own retrieval step (`kb.hits`: embedding, two filtered "
        f"queries fused in Python, neighbour merge) median {r.hits_ms:.1f} ms. A channel mention also "
        "searches as the asker alone when they may read more than the channel (the private-answer offer), "
        "after the answer is finished (the question's vector is reused); a DM does not. Times in ms, "
        "p50 / p95.\n\n"
        + table(
            [
                "where",
                "ack p50",
                "first reply call",
                "first answer text",
                "finished",
                "reply / raw",
                "answer text / raw",
            ],
            rows,
        )
        + f"\n\nBurst: {r.burst} mentions POSTed at once: {r.burst_acked}/{r.burst} acknowledged "
        f"(slowest ack {r.burst_max_ack_ms:.0f} ms), {r.burst_answered}/{r.burst} answered, the last "
        f"finished {r.burst_last_s:.1f} s after the burst began.\n"
    )


SYNC_COMMAND = ".venv/bin/python -m bench.run --only sync --work /tmp/qb --out /tmp/sync-bench.md"


async def sync_section(data: Path, quick: bool) -> str:
    """Initial sync through the worker's job path against raw embedding; a re-sync of an unchanged corpus."""
    pages = SPEED_PAGES[:2] if quick else SPEED_PAGES
    documents = 500 if quick else 10_000
    redis = shutil.which("redis-server")
    if redis is None:
        raise RuntimeError("redis-server is missing: run `make install` (it apt-gets redis-server)")
    command = [redis, "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with temp_folder() as folder, serving(command) as port:
        r = await sync_speed.measure(
            [data / "handbook" / "pages" / p for p in pages],
            documents,
            Path(folder),
            f"redis://127.0.0.1:{port}/0",
        )
    throughput = table(
        ["documents", "chunks", "sync s", "documents/s", "chunks/s", "raw embed chunks/s", "ratio"],
        [
            [
                str(r.documents),
                str(r.chunks),
                f"{r.sync_s:.1f}",
                f"{r.documents / r.sync_s:.3f}",
                f"{r.chunks / r.sync_s:.2f}",
                f"{r.chunks / r.raw_embed_s:.2f}",
                f"{r.ratio:.2f}",
            ]
        ],
    )
    first = table(
        [
            "documents",
            "chunks",
            "first sync s",
            "chunks/s",
            "raw model chunks/s (sample)",
            "ratio",
            "CPU ratio",
        ],
        [
            [
                f"{r.corpus_documents:,}",
                f"{r.corpus_chunks:,}",
                f"{r.corpus_sync_s:.1f}",
                f"{r.corpus_chunks / r.corpus_sync_s:.2f}",
                f"{r.corpus_raw_chunks_per_s:.2f}",
                f"{r.corpus_ratio:.2f}",
                f"{r.corpus_cpu_ratio:.2f}",
            ]
        ],
    )
    resync = table(
        [
            "re-sync s",
            "re-sync fraction",
            "texts re-embedded",
            "second worker's re-sync s",
            "its fraction",
            "texts it embedded",
        ],
        [
            [
                f"{r.resync_s:.2f}",
                f"{r.resync_fraction:.4f}",
                str(r.resync_embedded),
                f"{r.other_worker_s:.2f}",
                f"{r.other_worker_s / r.corpus_sync_s:.4f}",
                str(r.other_worker_embedded),
            ]
        ],
    )
    return (
        "## Sync speed (worker job path)\n\n"
        f"`{SYNC_COMMAND}` (`--quick`: 2 pages, 500 documents). Each sync is one "
        "`run_sync(context, JobRequest(source_id=...))`, the function the arq worker and embedded mode run "
        "for a registered files source (FileRegistry, sync state in Redis, Qdrant Edge index, one parser "
        "process), timed end to end including the index optimise and the status record.\n\n"
        f"**Handbook pages**: {r.documents} pages with the bundled model behind a fresh cache, against the "
        "same model embedding the very same chunk texts (read back from the index) in the same run; ratio = "
        "sync chunks/s over raw chunks/s.\n\n"
        + throughput
        + f"\n\n**A large corpus**: {r.corpus_documents:,} small synthetic Markdown files (a title and one "
        "paragraph each: one chunk of about 60 tokens), first synced with the bundled model behind a fresh "
        "cache (sync state in Redis, as in a fleet); raw = the same model on a sample of "
        f"{min(r.corpus_documents, 1000):,} of the very same chunk texts in the same run; ratio = sync "
        "chunks/s over raw chunks/s (aim >= 0.95); CPU ratio = the model's CPU seconds per chunk over the "
        "sync's (parsing, writing and all, the parser process included): the share of the machine the sync "
        "leaves to the model, which other load on the machine hardly moves.\n\n"
        + first
        + "\n\nThen re-synced unchanged in a freshly opened knowledge base (state, cache and index "
        "reopened); fraction = re-sync time over the first sync's (aim <= 1%); *texts re-embedded* counts "
        "what reached the embedder. The *second worker* re-syncs the same source from another data dir "
        "(its own, empty embedding cache and connector caches) on the same Redis and index: what a second "
        "`lore worker` replica does (aim: nothing re-embedded).\n\n" + resync + "\n"
    )


BUSY_COMMAND = ".venv/bin/python -m bench.run --only busy --out /tmp/busy-bench.md"
AUDIENCE_COMMAND = ".venv/bin/python -m bench.run --only audience --out /tmp/audience-bench.md"
FEDERATION_COMMAND = ".venv/bin/python -m bench.run --only federation --out /tmp/federation-bench.md"


async def federation_section(quick: bool) -> str:
    """Retrieval with a federated Lore: healthy, refusing connections, never answering; against alone."""
    r = await federation.measure(runs=5 if quick else 30, slow_runs=5 if quick else 30)
    rows = [
        ["this Lore alone", f"{r.local_ms:.1f}", "1.00"],
        ["one remote call alone (HTTP, the remote's retrieval)", f"{r.remote_call_ms:.1f}", ""],
        ["with a healthy remote", f"{r.healthy_ms:.1f}", f"{r.healthy_ratio:.2f}"],
        ["with a remote that refuses connections", f"{r.dead_ms:.1f}", f"{r.dead_ms / r.local_ms:.2f}"],
        [
            f"with a remote that never answers: the first question (budget {r.budget_s:g} s)",
            f"{r.slow_first_ms:.1f}",
            "",
        ],
        [
            "with a remote that never answers: the questions after it (it rests)",
            f"{r.slow_later_ms:.1f}",
            f"{r.slow_later_ms / r.local_ms:.2f}",
        ],
    ]
    return (
        "## Federated search\n\n"
        f"`{FEDERATION_COMMAND}`. `kb.retrieve` of one question (embedding, hybrid query, fusion) on a local "
        "Qdrant Edge index of three pages, as a principal that may use a `lore-remote` source. The remote is "
        "a `lore api` process over three other pages with its own model, asked at the same time as the local "
        f"index; medians of {r.runs} distinct questions per row (each embedded on both sides); the *alone* "
        "and *healthy* rows are interleaved question by question. Of the healthy runs, "
        f"{r.healthy_right_first:.0%} had as their top hit the page that answers (3 of the 5 "
        "questions are answered by the remote, 2 here).\n\n"
        + table(["case", "p50 ms", "ratio to alone"], rows)
        + "\n"
    )


def main() -> int:
    """Parse arguments, run, print and write the report."""
    parser = argparse.ArgumentParser(prog="bench.run")
    parser.add_argument("--quick", action="store_true", help="small subsets (a smoke run)")
    parser.add_argument(
        "--only",
        default="quality,index,windows,ingest,bot,audience,busy",
        help="sections; retrieval (single_text and CMRC alone), sync, federation and connectors are opt-in",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--work", default=".lore-bench", help="data dir of the benchmark indexes")
    parser.add_argument("--out", type=Path, default=None, help="write the report here")
    parser.add_argument(
        "--quality-corpora", default="", help="quality: only these of handbook,domainrag,cmrc2018"
    )
    parser.add_argument(
        "--answers-only",
        action="store_true",
        help="quality: only the extractive answers (no retrieval tables; reuses the cached indexes)",
    )
    parser.add_argument(
        "--llm",
        default="",
        help="quality: also measure the second search this LLM plans (an OpenAI-compatible base URL, "
        "e.g. http://localhost:8000/v1; key from LORE_LLM_API_KEY)",
    )
    parser.add_argument("--llm-model", default="gpt-4o-mini", help="quality: the model at --llm")
    parser.add_argument("--chunk-sizes", default="", help="also compare these chunk sizes, e.g. 128,256,512")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
