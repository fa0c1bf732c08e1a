"""One run of the quality benchmark: every corpus indexed (or reused), every question set asked of Lore's
three modes and of the BM25 peer, and the extractive answers judged. `bench.run` prints it as tables.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pydantic import BaseModel, Field

from bench.quality import answers
from bench.quality.answers import AnswerRow
from bench.quality.cases import (
    HANDBOOK_KINDS,
    Case,
    Corpus,
    CrossCase,
    cross_language,
    domainrag_cases,
    handbook_answers,
    handbook_cases,
    handbook_plain,
    off_topic,
    write_cmrc,
    write_domainrag,
)
from bench.quality.indexes import corpus_kb
from bench.quality.peer import Bm25Peer
from bench.quality.retrieval import Miss, Row, measure
from bench.retrieval import temp_folder
from knowledge.service import Knowledge
from knowledge.settings import Settings


class Part(BaseModel):
    """One corpus and everything asked of it."""

    corpus: Corpus
    cases: list[Case] = Field(description="Retrieval cases (the English ones also judge answers).")
    unanswerable: dict[str, list[str]] = Field(default_factory=dict, description="Label -> questions.")
    known: dict[str, str] = Field(
        default_factory=dict, description="Unanswerable question -> the dataset's answer, where it has one."
    )
    cross: list[CrossCase] = Field(default_factory=list, description="Cross-language questions.")
    answers: bool = False


class Timing(BaseModel):
    """Seconds spent on one part."""

    corpus: str
    chunks: int
    embedded: int = Field(description="Chunk texts that reached the model (not in the cache).")
    index_s: float
    retrieval_s: float
    answers_s: float


class Results(BaseModel):
    """Everything one run measured."""

    rows: list[Row] = Field(default_factory=list)
    misses: list[Miss] = Field(default_factory=list)
    answers: list[AnswerRow] = Field(default_factory=list)
    timings: list[Timing] = Field(default_factory=list)


async def measure_part(
    work: Path,
    part: Part,
    settings: Settings,
    results: Results,
    answers_only: bool = False,
    llm: Settings | None = None,
) -> None:
    """Index `part`'s corpus (or reuse it), measure retrieval (unless `answers_only`) and, when asked,
    answers. With `llm` (settings naming an LLM), retrieval also measures the second search it plans;
    the answers stay extractive."""
    started = time.perf_counter()
    async with corpus_kb(work, part.corpus, settings) as kb:
        embedded = kb.embedder.texts_embedded  # by the sync (answers may embed sentences later)
        indexed = time.perf_counter()
        if not answers_only:
            planner = Knowledge(llm, kb.index, kb.embedder) if llm is not None else None
            try:
                rows, misses = await measure(
                    part.corpus, kb, Bm25Peer(part.corpus), part.cases, planner=planner
                )
            finally:
                if planner is not None:
                    await planner.answerer.close()
            results.rows += rows
            results.misses += misses
        retrieved = time.perf_counter()
        name = part.corpus.name
        if part.answers:
            results.answers.append(
                await answers.text_questions(kb, part.cases, f"{name}: dev text questions")
            )
        for label, questions in part.unanswerable.items():
            known = {q: part.known[q] for q in questions if q in part.known}
            row = await answers.unanswerable(kb, questions, f"{name}: {label}", known)
            results.answers.append(row)
        if part.cross:
            label = f"{name}: asked in the other language"
            results.answers.append(await answers.cross_language(kb, part.cross, label))
        chunks = await kb.index.count(name)
    done = time.perf_counter()
    results.timings.append(
        Timing(
            corpus=name,
            chunks=chunks,
            embedded=embedded,
            index_s=indexed - started,
            retrieval_s=retrieved - indexed,
            answers_s=done - retrieved,
        )
    )
    print(f"  {name}: measured in {done - started:.0f} s", file=sys.stderr)


@contextmanager
def standard_parts(data: Path, quick: bool) -> Iterator[list[Part]]:
    """The handbook, domainrag-dev and CMRC 2018 parts (`quick`: a few questions and their documents)."""
    limit = 3 if quick else None
    cross = cross_language()
    with ExitStack() as stack:
        handbook = [c for kind in HANDBOOK_KINDS for c in handbook_cases(data / "handbook", kind, limit)]
        pages = data / "handbook" / "pages"
        if quick:
            pages = Path(stack.enter_context(temp_folder()))
            for doc in {doc for case in handbook for doc in case.gold}:
                (pages / doc).parent.mkdir(parents=True, exist_ok=True)
                (pages / doc).write_bytes((data / "handbook" / "pages" / doc).read_bytes())
        unanswerable = {
            "off-topic (ours)": off_topic(),
            "multimodal (answer only in an image)": handbook_plain(data / "handbook", "multimodal"),
        }
        if quick:
            unanswerable = {label: qs[:limit] for label, qs in unanswerable.items()}
        suffix = "-quick" if quick else ""
        parts = [
            Part(
                corpus=Corpus(name=f"handbook{suffix}", lang="en", folder=pages),
                cases=handbook,
                unanswerable=unanswerable,
                known=handbook_answers(data / "handbook", "multimodal"),
                cross=[] if quick else [c for c in cross if c.corpus == "handbook"],
                answers=True,
            )
        ]
        zh = Path(stack.enter_context(temp_folder()))
        rag = domainrag_cases(data / "domainrag-dev", limit)
        write_domainrag(zh, data / "domainrag-dev", {d[:-3] for c in rag for d in c.gold} if quick else None)
        parts.append(
            Part(
                corpus=Corpus(name=f"domainrag{suffix}", lang="zh", folder=zh),
                cases=rag,
                cross=[] if quick else [c for c in cross if c.corpus == "domainrag"],
            )
        )
        cmrc = Path(stack.enter_context(temp_folder()))
        cmrc_cases = write_cmrc(
            cmrc, data / "cmrc2018" / "cmrc2018_dev.json", 40 if quick else None, 1 if quick else 2
        )
        parts.append(Part(corpus=Corpus(name=f"cmrc2018{suffix}", lang="zh", folder=cmrc), cases=cmrc_cases))
        yield parts


async def run(
    data: Path,
    work: Path,
    quick: bool,
    settings: Settings,
    corpora: set[str] | None = None,
    answers_only: bool = False,
    llm: Settings | None = None,
) -> Results:
    """Every standard part (or those of `corpora`: handbook, domainrag, cmrc2018) under `settings`;
    `answers_only`: the extractive answers alone, no retrieval tables (a minute or two on cached indexes);
    `llm`: also the second search that LLM plans (`measure_part`)."""
    results = Results()
    with standard_parts(data, quick) as parts:
        for part in parts:
            chosen = corpora is None or part.corpus.name.removesuffix("-quick") in corpora
            asks = part.answers or part.unanswerable or part.cross
            if chosen and (asks or not answers_only):
                await measure_part(work, part, settings, results, answers_only, llm)
    return results
