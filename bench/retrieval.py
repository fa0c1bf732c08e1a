"""Retrieval quality: dense-only, sparse-only and hybrid on the same index, in one run.

Handbook (English wiki, gold evidence spans) and CMRC 2018 (Chinese, gold passages). The measure follows
FACTS.md so that chunk size cannot buy the score: the ranking is walked until CHAR_BUDGET characters of
context are used; a hit counts only inside that budget. Evidence recall@5 is the share of a question's gold
spans found in a chunk of the gold page among the first 5 results; MRR@10 is 1/rank of the first such chunk.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from difflib import SequenceMatcher
from pathlib import Path

from pydantic import BaseModel

from bench.common import normalise
from knowledge.models import ScoredChunk
from knowledge.retrieval import Mode
from knowledge.service import Knowledge

CHAR_BUDGET = 8000
MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")


class Question(BaseModel):
    """A question and its gold evidence: document id -> spans (an empty span list = the whole document)."""

    question: str
    gold: dict[str, list[str]]


class Score(BaseModel):
    """Evidence recall@5 and MRR@10 of one retrieval mode."""

    mode: str
    recall5: float
    mrr10: float
    questions: int


def handbook_questions(folder: Path, kind: str = "single_text", limit: int | None = None) -> list[Question]:
    """Questions of one type of the handbook set, with their gold spans per page."""
    out = []
    for line in (folder / "questions" / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()[:limit]:
        item = json.loads(line)
        gold: dict[str, list[str]] = {}
        for entry in item["retrieval"]:
            for page, spans in entry.items():
                gold.setdefault(page, []).extend(spans)
        out.append(Question(question=item["question"], gold=gold))
    return out


def cmrc_corpus(
    path: Path, folder: Path, contexts: int | None = None, per_context: int | None = None
) -> list[Question]:
    """Write CMRC passages as text files into `folder` (one per passage); return their questions."""
    data = json.loads(path.read_text(encoding="utf-8"))[:contexts]
    questions = []
    for item in data:
        name = f"{item['context_id']}.txt"
        (folder / name).write_text(item["context_text"], encoding="utf-8")
        for qa in item["qas"][:per_context]:
            questions.append(Question(question=qa["query_text"], gold={name: []}))
    return questions


def within_budget(hits: list[ScoredChunk]) -> list[ScoredChunk]:
    """The leading hits whose text fits in CHAR_BUDGET characters (at least one)."""
    used, kept = 0, list[ScoredChunk]()
    for hit in hits:
        used += len(hit.chunk.text)
        if kept and used > CHAR_BUDGET:
            break
        kept.append(hit)
    return kept


def span_in(span: list[str], text: list[str]) -> bool:
    """A gold span (as words) is in a chunk when 80% of its words appear in it in order, in runs of at least
    two words (or the whole span, when it is one word): markup, punctuation and table layout may differ."""
    if not span:
        return True
    run = min(2, len(span))
    blocks = SequenceMatcher(None, text, span, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks if b.size >= run) >= 0.8 * len(span)


def score_question(q: Question, hits: list[ScoredChunk]) -> tuple[float, float]:
    """(evidence recall@5, reciprocal rank@10) of one ranking."""
    ranked = within_budget(hits)[:10]
    # what a reader (or the LLM) sees of a chunk: its heading path and its text
    texts = [(h.chunk.doc_id, normalise(" ".join([*h.chunk.heading_path, h.chunk.text]))) for h in ranked]
    spans = [(page, normalise(s)) for page, ss in q.gold.items() for s in (ss or [""])]
    found = sum(any(doc == page and span_in(span, text) for doc, text in texts[:5]) for page, span in spans)
    rank = next(
        (
            i
            for i, (doc, text) in enumerate(texts, 1)
            if any(doc == page and span_in(span, text) for page, span in spans)
        ),
        None,
    )
    return found / len(spans), (1 / rank if rank else 0.0)


async def evaluate(kb: Knowledge, questions: list[Question], source: str) -> list[Score]:
    """Scores of every mode over `questions`, as `{public}` on one index."""
    scores = []
    for mode in MODES:
        recalls, ranks = [], []
        for q in questions:
            hits = await kb.retriever.search(q.question, ["public"], k=10, mode=mode, source_ids=[source])
            recall, rr = score_question(q, hits)
            recalls.append(recall)
            ranks.append(rr)
        scores.append(
            Score(
                mode=mode,
                recall5=statistics.fmean(recalls),
                mrr10=statistics.fmean(ranks),
                questions=len(questions),
            )
        )
    return scores


def temp_folder() -> tempfile.TemporaryDirectory[str]:
    """A scratch folder for corpora written at run time (never inside the repository)."""
    return tempfile.TemporaryDirectory(prefix="lore-bench-")
