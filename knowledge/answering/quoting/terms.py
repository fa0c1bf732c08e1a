"""The content terms of a question and how much of them a unit covers, rarer terms weighing more."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import cache

from knowledge.answering.function_words import CJK_FUNCTION_WORDS
from knowledge.answering.rewrite import ANAPHORA_CJK, ANAPHORA_EN
from knowledge.sparse import CjkMode, Tokenizer


@cache
def default_tokenizer(cjk: CjkMode = "jieba") -> Tokenizer:
    """One shared tokenizer per CJK mode (jieba loads its dictionary once)."""
    return Tokenizer(cjk=cjk)


def content_terms(tokenizer: Tokenizer, text: str) -> frozenset[str]:
    """The stemmed terms of `text` without stopwords and CJK function words."""
    return frozenset(t for t in tokenizer.tokens(text) if t not in CJK_FUNCTION_WORDS)


@cache
def _references(tokenizer: Tokenizer) -> frozenset[str]:
    words = " ".join([*ANAPHORA_EN, *ANAPHORA_CJK])
    return frozenset(tokenizer.tokens(words)) | frozenset(ANAPHORA_CJK)


def subject_terms(tokenizer: Tokenizer, question: str) -> frozenset[str]:
    """The content terms of `question` that are not references to an earlier turn ("the next one"): a
    question with none says nothing of its own about what it asks."""
    return content_terms(tokenizer, question) - _references(tokenizer)


def term_weights(question: frozenset[str], pool: Sequence[frozenset[str]]) -> dict[str, float]:
    """IDF-like weight of each question term over the units in `pool`; a term no unit has weighs most."""
    df = Counter(t for terms in pool for t in terms & question)
    n = max(1, len(pool))
    return {t: math.log(1.0 + n / df[t]) if df[t] else math.log(1.0 + 2.0 * n) for t in question}


def coverage(weights: dict[str, float], terms: frozenset[str]) -> float:
    """The share of the question's term weight that `terms` holds (0 when the question has none)."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0
