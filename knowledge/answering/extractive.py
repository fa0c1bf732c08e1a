"""Answers without an LLM: the sentences of the top sources that best match the question, each cited.

A sentence scores by the question terms it contains, each weighted by how rare it is among the candidate
sentences (IDF-ish), as a share of the question's total weight ("coverage"), plus a small bonus for the
source's retrieval rank. Deterministic: ties break on rank, then position.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from knowledge.answering.citations import citation
from knowledge.answering.no_answer import no_answer
from knowledge.answering.sentences import ELLIPSIS, split_sentences
from knowledge.models import Answer, ScoredChunk
from knowledge.sparse import CjkMode, Tokenizer

CANDIDATE_SOURCES = 5
MAX_SENTENCES = 3
MIN_COVERAGE = 0.25  # below this share of the question's weight a sentence does not answer it
KEEP_RATIO = 0.6  # a second or third sentence needs this share of the best sentence's score
RANK_BONUS = 0.15  # added to the best source's sentences, halved for the second, and so on
NEAR_DUPLICATE = 0.7  # Jaccard overlap of terms above which a sentence repeats one already picked
MAX_SENTENCE_CHARS = 400
MIN_TERMS = 2  # headings and fragments carry too little to quote alone

# Function words jieba keeps as tokens; they match everything and answer nothing.
_CJK_FUNCTION_TEXT = """
    的 了 是 在 有 和 与 及 或 吗 呢 吧 啊 么 什么 怎么 怎样 如何 哪 哪些 哪个 哪里 多少 几
    我 你 您 我们 你们 他 她 它 这 那 这个 那个 请问 可以 能 会 要 需要 应该 为什么 谁 时候
"""
CJK_FUNCTION_WORDS: frozenset[str] = frozenset(_CJK_FUNCTION_TEXT.split())


@dataclass(frozen=True)
class Candidate:
    """A sentence of one of the top sources, with its terms."""

    rank: int
    position: int
    text: str
    terms: frozenset[str]


@cache
def default_tokenizer(cjk: CjkMode = "jieba") -> Tokenizer:
    """One shared tokenizer per CJK mode (jieba loads its dictionary once)."""
    return Tokenizer(cjk=cjk)


def _terms(tokenizer: Tokenizer, text: str) -> frozenset[str]:
    return frozenset(t for t in tokenizer.tokens(text) if t not in CJK_FUNCTION_WORDS)


def candidates(hits: Sequence[ScoredChunk], tokenizer: Tokenizer) -> list[Candidate]:
    """Quotable sentences of the top sources: no headings, no fragments."""
    found: list[Candidate] = []
    for rank, hit in enumerate(hits[:CANDIDATE_SOURCES]):
        for position, sentence in enumerate(split_sentences(hit.chunk.text)):
            if sentence.startswith("#"):
                continue
            terms = _terms(tokenizer, sentence)
            if len(terms) >= MIN_TERMS:
                found.append(Candidate(rank, position, sentence, terms))
    return found


def _weights(query: frozenset[str], pool: list[Candidate]) -> dict[str, float]:
    """IDF-ish weight of each question term over the candidate sentences; unseen terms weigh the most."""
    df = Counter(t for c in pool for t in c.terms & query)
    n = len(pool)
    return {t: math.log(1.0 + n / df[t]) if df[t] else math.log(1.0 + 2.0 * n) for t in query}


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _quote(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    return sentence[: MAX_SENTENCE_CHARS - 1].rsplit(" ", 1)[0] + ELLIPSIS


def select(question: str, hits: Sequence[ScoredChunk], tokenizer: Tokenizer) -> list[Candidate]:
    """The 0-3 sentences that answer `question` best, in order of source rank, then position."""
    query = _terms(tokenizer, question)
    pool = candidates(hits, tokenizer)
    if not query or not pool:
        return []
    weights = _weights(query, pool)
    total = sum(weights.values())
    coverage = {c: sum(weights[t] for t in c.terms & query) / total for c in pool}
    scored = sorted(
        ((coverage[c] + RANK_BONUS / (c.rank + 1), c) for c in pool if coverage[c] >= MIN_COVERAGE),
        key=lambda item: (-item[0], item[1].rank, item[1].position),
    )
    picked: list[Candidate] = []
    for score, cand in scored:
        if len(picked) == MAX_SENTENCES or score < KEEP_RATIO * scored[0][0]:
            break
        if all(_jaccard(cand.terms, p.terms) < NEAR_DUPLICATE for p in picked):
            picked.append(cand)
    return sorted(picked, key=lambda c: (c.rank, c.position))


def extractive_answer(
    question: str, hits: Sequence[ScoredChunk], tokenizer: Tokenizer | None = None
) -> Answer:
    """Quote the best 1-3 sentences of the top sources, each followed by its [n]; else `no_answer`."""
    picked = select(question, hits, tokenizer or default_tokenizer())
    if not picked:
        return no_answer(question, hits)
    number: dict[int, int] = {}
    for cand in picked:
        number.setdefault(cand.rank, len(number) + 1)
    text = " ".join(f"{_quote(c.text)} [{number[c.rank]}]" for c in picked)
    citations = [
        citation(n, hits[rank], " ".join(c.text for c in picked if c.rank == rank))
        for rank, n in number.items()
    ]
    return Answer(answer=text, mode="extractive", citations=citations)
