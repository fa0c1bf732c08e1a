"""The measuring rule, one for Lore and for the peer, so that chunk size cannot buy the score.

The ranking is walked until CHAR_BUDGET characters of what a reader gets are used (Lore: each hit's
heading path and `hit.text`, its window once made; the peer: its chunk); only what fits counts.
*Evidence*: a gold span is found inside the budget in text from its gold page (1 or 0 per question);
*all spans*: the share of the question's gold spans so found (multi-hop and negation questions name two or
three pages). *MRR@10*: 1 / rank of the first read (among the first 10 inside the budget) holding a gold
span.
*Recall@5* (passages): a gold document among the first 5 reads inside the budget.

Spans match as `bench.retrieval.span_in` says (80% of the words, in order, in runs of two or more). Lore
renders a table row with its column names ("Member: CISO; Channel: #ciso") where the page, and so the gold
span and the peer's chunk, has "| CISO | #ciso |": a text is also tried without those names, so the same
words in either rendering count alike. Markdown link targets are dropped from spans and texts alike (gold
spans are copied from the page's Markdown; Lore's parsed text keeps a link's words, not its target).
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from bench.common import normalise
from bench.quality.cases import Case
from bench.retrieval import span_in
from knowledge.models import ScoredChunk

CHAR_BUDGET = 8000
DEPTH = 10  # hits asked of each ranking: MRR@10


_COLUMN_NAME = re.compile(r"(^|; )[^:;\n]{1,60}: ", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def unlinked(text: str) -> str:
    """`text` with each Markdown link `[words](target)` reduced to its words.

    Gold spans are copied from the page's Markdown, link targets and all; a parsed page (Lore's) keeps a
    link's words and drops its target, so a row like "Executive | [Chief People Officer](/job-families/...)"
    would never match the same row as Lore renders it. Both sides are compared without targets.
    """
    return _LINK.sub(r"\1", text)


def renderings(text: str) -> list[list[str]]:
    """The words of `text` (without link targets), and of it without the column names of table rows."""
    text = unlinked(text)
    bare = _COLUMN_NAME.sub(r"\1", text)
    return [normalise(text)] if bare == text else [normalise(text), normalise(bare)]


def holds(span: list[str], texts: list[list[str]]) -> bool:
    """True when one of a text's renderings holds the span (words)."""
    return any(span_in(span, words) for words in texts)


class Read(BaseModel):
    """What a reader gets of one hit: its document and its text."""

    doc_id: str
    text: str


def lore_reads(hits: list[ScoredChunk]) -> list[Read]:
    """Lore's hits as a reader sees them: the heading path over the hit's text (its window, if any)."""
    reads = []
    for hit in hits:
        head = " > ".join(hit.chunk.heading_path)
        reads.append(Read(doc_id=hit.chunk.doc_id, text=f"{head}\n{hit.text}" if head else hit.text))
    return reads


def budgeted(reads: list[Read]) -> list[Read]:
    """The leading reads whose text fits in CHAR_BUDGET characters (at least one)."""
    used, kept = 0, list[Read]()
    for read in reads:
        used += len(read.text)
        if kept and used > CHAR_BUDGET:
            break
        kept.append(read)
    return kept


class Score(BaseModel):
    """One question's score under the rule."""

    evidence: float
    spans: float
    rr10: float
    recall5: float


def score(case: Case, reads: list[Read]) -> Score:
    """Evidence, reciprocal rank@10 and recall@5 of one ranking for `case`."""
    kept = [(r.doc_id, renderings(r.text)) for r in budgeted(reads)]
    spans = [(doc, normalise(unlinked(s))) for doc, ss in case.gold.items() for s in (ss or [""])]

    def evidence(doc: str, texts: list[list[str]]) -> bool:
        return any(doc == page and holds(span, texts) for page, span in spans)

    found = sum(any(doc == page and holds(span, texts) for doc, texts in kept) for page, span in spans)
    rank = next((i for i, (doc, texts) in enumerate(kept[:DEPTH], 1) if evidence(doc, texts)), None)
    in_top5 = any(doc in case.gold for doc, _ in kept[:5])
    return Score(
        evidence=float(found > 0),
        spans=found / len(spans),
        rr10=1 / rank if rank else 0.0,
        recall5=float(in_top5),
    )
