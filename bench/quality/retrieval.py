"""Retrieval under the rule: Lore's three modes and the BM25 peer, question by question, per kind.

Every system gets the same question text: a follow-up is first rewritten from its thread by Lore (no LLM),
and the peer searches that same standalone question. With a `planner` (a knowledge base on the same index
with an LLM), a fourth system: the hybrid ranking after the second search that LLM plans
(`Knowledge.look_further`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from bench.quality.cases import Case, Corpus, Lang
from bench.quality.peer import Bm25Peer
from bench.quality.rule import DEPTH, Read, Score, lore_reads, score
from bench.quality.thread import Threads
from knowledge.access import Principal
from knowledge.retrieval import Mode
from knowledge.service import Knowledge

MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
PEER = "BM25 peer"
SECOND = "hybrid + LLM second search"  # measured only with `--llm` (bench.run): no offline LLM here


class Row(BaseModel):
    """The mean scores of one system on one kind of question."""

    corpus: str
    lang: Lang
    kind: str
    system: str
    questions: int
    evidence: float
    spans: float
    mrr10: float
    recall5: float


class Miss(BaseModel):
    """A question whose evidence Lore's hybrid missed (printed to help, never tuned to one by one)."""

    kind: str
    question: str
    standalone: str
    spans: float


async def lore_ranking(kb: Knowledge, query: str, mode: Mode) -> list[Read]:
    """Lore's ranking as `{public}`, through `Knowledge.retrieve` (windows included once made)."""
    found = await kb.retrieve(query, Principal.anonymous(), k=DEPTH, mode=mode, federate=False)
    return lore_reads(found.hits)


async def planned_ranking(kb: Knowledge, planner: Knowledge, query: str) -> list[Read]:
    """The hybrid ranking with what the planner's second search adds, as `{public}`."""
    anyone = Principal.anonymous()
    found = await kb.retrieve(query, anyone, k=DEPTH, mode="hybrid", federate=False)
    return lore_reads((await planner.look_further(query, found.hits, anyone, k=DEPTH)).hits)


async def measure(
    corpus: Corpus,
    kb: Knowledge,
    peer: Bm25Peer | None,
    cases: Sequence[Case],
    modes: Sequence[Mode] = MODES,
    planner: Knowledge | None = None,
) -> tuple[list[Row], list[Miss]]:
    """Rows per kind and system (and "all" over the kinds), and the questions hybrid missed."""
    threads = Threads(kb, Principal.anonymous())
    scores: dict[tuple[str, str], list[Score]] = defaultdict(list)
    misses = []
    for case in cases:
        query = (
            (await threads.standalone(case.question, case.history)).search if case.history else case.question
        )
        for mode in modes:
            s = score(case, await lore_ranking(kb, query, mode))
            scores[case.kind, mode].append(s)
            if mode == "hybrid" and s.spans < 1:
                misses.append(Miss(kind=case.kind, question=case.question, standalone=query, spans=s.spans))
        if planner is not None:
            scores[case.kind, SECOND].append(score(case, await planned_ranking(kb, planner, query)))
        if peer is not None:
            scores[case.kind, PEER].append(score(case, peer.search(query)))
    systems = [*modes, *([SECOND] if planner else []), *([PEER] if peer is not None else [])]
    kinds = list(dict.fromkeys(case.kind for case in cases))
    rows = [row(corpus, kind, system, scores[kind, system]) for kind in kinds for system in systems]
    if len(kinds) > 1:
        every = {system: [s for kind in kinds for s in scores[kind, system]] for system in systems}
        rows += [row(corpus, "all", system, every[system]) for system in systems]
    return rows, misses


def row(corpus: Corpus, kind: str, system: str, scores: list[Score]) -> Row:
    """The mean of `scores`."""
    return Row(
        corpus=corpus.name,
        lang=corpus.lang,
        kind=kind,
        system=system,
        questions=len(scores),
        evidence=statistics.fmean(s.evidence for s in scores),
        spans=statistics.fmean(s.spans for s in scores),
        mrr10=statistics.fmean(s.rr10 for s in scores),
        recall5=statistics.fmean(s.recall5 for s in scores),
    )
