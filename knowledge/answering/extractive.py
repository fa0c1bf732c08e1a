"""Answers without an LLM: the passages of the top sources that answer the question, each cited; else
an honest `no_answer`.

The top sources' text (each hit's window) is cut into quotable units (`quoting.units`); the units that
cover most of the question are embedded and scored by their dense similarity to the question, that
coverage and their hit's rank (`quoting.relevance`); the best become passages (`quoting.compose`).
Nothing is quoted unless the best unit is evidence enough and the sources mention what the question names
(`quoting.names`). Deterministic for given vectors: ties break on rank, then position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import numpy as np

from knowledge.answering.citations import citation
from knowledge.answering.no_answer import no_answer
from knowledge.answering.quoting.asks import asked, asks_about_a_picture, holds, speaks_of_a_picture
from knowledge.answering.quoting.compose import passages
from knowledge.answering.quoting.names import quoted, said, unmentioned
from knowledge.answering.quoting.relevance import Scored, shortlist, with_dense
from knowledge.answering.quoting.terms import default_tokenizer, subject_terms
from knowledge.answering.quoting.units import Unit, quotable
from knowledge.embedding.base import Embedder, EmbeddingError
from knowledge.models import Answer, ScoredChunk
from knowledge.sparse import Tokenizer

log = logging.getLogger(__name__)

CANDIDATE_SOURCES = 5

__all__ = ["default_tokenizer", "extractive_answer", "quote"]


def quote(
    question: str,
    hits: Sequence[ScoredChunk],
    units: Sequence[Unit],
    ranked: Sequence[Scored],
    tokenizer: Tokenizer,
) -> Answer:
    """The answer from `ranked` (best first), or `no_answer` when the best one does not answer."""
    ranked = fitting(question, ranked)
    best = ranked[0] if ranked else None
    if best is None or not best.answers or not subject_terms(tokenizer, question):
        return no_answer(question, hits)
    texts = (hit.text for hit in hits[:CANDIDATE_SOURCES])
    if not best.cross_language and unmentioned(question, texts, tokenizer):
        return no_answer(question, hits)
    picked = passages(ranked, units)
    # a quoted phrase names what the question is about: a passage that answers says it (as a phrase)
    around = [t for p in picked for u in p.units for t in (u.text, u.heading)]
    phrases = quoted(question)
    if not best.cross_language and phrases and not any(said(phrase, around, tokenizer) for phrase in phrases):
        return no_answer(question, hits)
    number: dict[int, int] = {}
    for passage in picked:
        number.setdefault(passage.rank, len(number) + 1)
    rendered = [(p, p.render()) for p in picked]
    tabular = any("\n" in text for _, text in rendered)
    answer = ("\n" if tabular else " ").join(f"{text} [{number[p.rank]}]" for p, text in rendered)
    citations = [
        citation(n, hits[rank], " ".join(text for p, text in rendered if p.rank == rank))
        for rank, n in number.items()
    ]
    return Answer(answer=answer, mode="extractive", citations=citations)


def fitting(question: str, ranked: Sequence[Scored]) -> list[Scored]:
    """The units of `ranked` that could answer what `question` asks: they hold the kind of value it
    asks for (a number, a date) and, when it asks about a picture, they speak of one."""
    kind = asked(question)
    picture = asks_about_a_picture(question)
    return [
        s for s in ranked if holds(s.unit.text, kind) and (not picture or speaks_of_a_picture(s.unit.text))
    ]


async def similarities(embedder: Embedder, question: str, texts: Sequence[str]) -> dict[str, float]:
    """The cosine similarity of the question to each text, by the embedder's model (vectors are unit
    length). Passage vectors go through the embedder, so a cached embedder embeds a text once."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    query = np.asarray(await embedder.embed_query(question.strip()), dtype=np.float32)
    vectors = np.asarray(await embedder.embed_passages(unique), dtype=np.float32)
    return {text: float(v) for text, v in zip(unique, vectors @ query, strict=True)}


async def extractive_answer(
    question: str,
    hits: Sequence[ScoredChunk],
    embedder: Embedder | None = None,
    tokenizer: Tokenizer | None = None,
) -> Answer:
    """Quote the best 1-3 passages of the top sources, each followed by its [n]; else `no_answer`.

    Without `embedder` (or when it fails) coverage decides alone, more strictly."""
    tokenizer = tokenizer or default_tokenizer()
    units = quotable(hits, CANDIDATE_SOURCES)
    # Off the event loop: tokenising (jieba loads its dictionary on first use, about a second).
    short = await asyncio.to_thread(shortlist, question, units, tokenizer)
    similarity: dict[str, float] | None = None
    if embedder is not None and short:
        try:
            similarity = await similarities(embedder, question, [s.unit.text for s in short])
        except EmbeddingError as exc:
            log.warning("embedding the answer's candidate sentences failed, matching terms only: %s", exc)
    ranked = with_dense(short, similarity)
    return await asyncio.to_thread(quote, question, hits, units, ranked, tokenizer)
