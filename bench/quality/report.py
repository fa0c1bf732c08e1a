"""The quality benchmark's tables, in Markdown."""

from __future__ import annotations

from typing import Literal

from bench.common import table
from bench.quality.answers import AnswerRow
from bench.quality.retrieval import PEER, SECOND, Row
from bench.quality.rule import CHAR_BUDGET
from bench.quality.suite import Results

SYSTEMS = ("dense", "sparse", "hybrid", SECOND, PEER)  # a system no row has (SECOND without --llm): no column


Measure = Literal["evidence", "recall5", "spans"]
HEADS = {"evidence": "evidence / MRR@10", "recall5": "recall@5 / MRR@10", "spans": "all spans"}


def _cell(r: Row | None, measure: Measure) -> str:
    if r is None:
        return ""
    value = getattr(r, measure)
    return f"{value:.3f}" if measure == "spans" else f"{value:.3f} / {r.mrr10:.3f}"


def retrieval_table(rows: list[Row], measure: Measure) -> str:
    """One line per corpus and kind; a cell per system: `measure` (and MRR@10). Empty: no rows."""
    if not rows:
        return "(not measured in this run)"
    keys = list(dict.fromkeys((r.corpus, r.kind) for r in rows))
    systems = [s for s in SYSTEMS if any(r.system == s for r in rows)]
    lines = []
    for corpus, kind in keys:
        by_system = {r.system: r for r in rows if r.corpus == corpus and r.kind == kind}
        n = next(iter(by_system.values())).questions
        lines.append([corpus, kind, str(n), *[_cell(by_system.get(s), measure) for s in systems]])
    return table(["set", "kind", "questions", *[f"{s} {HEADS[measure]}" for s in systems]], lines)


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def answers_table(rows: list[AnswerRow]) -> str:
    """The answer-quality shares, one line per set of questions."""
    return table(
        [
            "questions",
            "n",
            "answer holds a gold span",
            "no_answer",
            "no_answer or the dataset's answer quoted",
            "right document",
            "unrelated",
        ],
        [
            [
                r.questions,
                str(r.n),
                _share(r.holds_evidence),
                _share(r.no_answer),
                _share(r.no_answer_or_quoted),
                _share(r.right_document),
                _share(r.unrelated),
            ]
            for r in rows
        ],
    )


def section(results: Results, command: str) -> str:
    """The whole section of docs/benchmarks.md."""
    english = [r for r in results.rows if r.lang == "en"]
    chinese = [r for r in results.rows if r.lang == "zh"]
    timing = table(
        ["corpus", "chunks", "texts embedded", "index s (sync)", "retrieval s", "answers s"],
        [
            [
                t.corpus,
                str(t.chunks),
                str(t.embedded),
                f"{t.index_s:.1f}",
                f"{t.retrieval_s:.1f}",
                f"{t.answers_s:.1f}",
            ]
            for t in results.timings
        ],
    )
    return (
        "## Quality: every kind of question, against a BM25 peer\n\n"
        f"`{command}` (bench/quality/). Lore's dense, sparse and hybrid modes through `Knowledge.retrieve`, "
        "beside a BM25 peer (bm25s, 512-token chunks with 50 tokens of overlap, stemmed English or jieba "
        f"Chinese), under one rule: the ranking is walked until {CHAR_BUDGET:,} characters of what a reader "
        "gets are used (Lore: heading path and `hit.text`; the peer: its chunk). *Evidence*: a gold span "
        "found inside that budget in text from its gold page; *MRR@10*: 1 / rank of the first such hit; "
        "*recall@5*: a gold passage among the first five. Follow-ups (contextual_anaphora, the "
        "domainrag conversations) are asked as a Slack thread asks them: the earlier questions answered by "
        "Lore first (no LLM), then the follow-up rewritten from that memory; every system searches the same "
        "rewritten question.\n\n"
        "**English** (the handbook; cells: evidence / MRR@10)\n\n"
        + retrieval_table(english, "evidence")
        + "\n\nThe share of *all* the gold spans of a question found inside the budget (multi-hop questions "
        "name two or three pages, negation questions two):\n\n"
        + retrieval_table(english, "spans")
        + "\n\n**Chinese** (domainrag-dev: one passage per document, many same-title neighbours; CMRC 2018; "
        "cells: recall@5 / MRR@10)\n\n"
        + retrieval_table(chinese, "recall5")
        + "\n\n**Answers without an LLM** (extractive), as `{public}`\n\n"
        + (answers_table(results.answers) if results.answers else "(not measured in this run)")
        + "\n\n**Time**\n\n"
        + timing
        + "\n"
    )
