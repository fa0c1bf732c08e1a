"""How well a unit answers the question, from the question as a whole, and whether anything answers it.

Three signals, none of which decides alone:

- **dense**: the cosine similarity of the question and the unit, embedded by the same model as the index
  (multilingual, so it also works across languages);
- **coverage**: the share of the question's content terms the unit holds, rarer terms weighing more (one
  shared word out of five covers little);
- **retrieval**: the rank of the hit the unit comes from.

A unit's score is `dense + COVERAGE_WEIGHT * coverage + RANK_BONUS / (rank + 1)`. The question is answered
when the best unit's score reaches `ANSWER_SCORE`, its dense similarity `MIN_DENSE` (per language:
`MIN_DENSE_BY_LANG`) and its coverage `MIN_COVERAGE`; across languages, where no term can be shared, when
its dense similarity reaches `CROSS_LANGUAGE_DENSE`. Without dense
similarities (the embedder failed) coverage decides alone, more strictly (`LEXICAL_ONLY_COVERAGE`).
The constants are calibrated on the development sets (the handbook's dev text questions against off-topic
and multimodal questions, and cross-language questions); see docs/how-lore-works.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from knowledge.answering.quoting.terms import content_terms, coverage, term_weights
from knowledge.answering.quoting.units import Unit
from knowledge.sparse import Tokenizer, detect_lang

COVERAGE_WEIGHT = 0.1
RANK_BONUS = 0.02
ANSWER_SCORE = 0.87
MIN_DENSE = 0.82
MIN_COVERAGE = 0.05  # in the question's own language, a unit sharing no content word does not answer it
# Chinese texts sit closer together in this model's space: unrelated pairs reach 0.87 (calibrated on CMRC
# 2018 questions against Chinese off-topic ones; Japanese shares the CJK floor, uncalibrated)
MIN_DENSE_BY_LANG = {"zh": 0.88, "ja": 0.88}
CROSS_LANGUAGE_DENSE = 0.88
LEXICAL_ONLY_COVERAGE = 0.4
SHORTLIST = 24  # units embedded per question: the best by coverage, then those in the hits' own chunks


@dataclass(frozen=True)
class Scored:
    """A unit with its evidence and score."""

    unit: Unit
    coverage: float
    dense: float | None
    lang: str  # the question's language
    cross_language: bool

    @property
    def score(self) -> float:
        """The unit's relevance to the question (higher is better)."""
        lexical = 0.0 if self.cross_language else COVERAGE_WEIGHT * self.coverage
        dense = self.dense if self.dense is not None else 0.0
        return dense + lexical + RANK_BONUS / (self.unit.rank + 1)

    @property
    def answers(self) -> bool:
        """True when this unit is evidence enough that the sources answer the question."""
        if self.dense is None:
            return not self.cross_language and self.coverage >= LEXICAL_ONLY_COVERAGE
        if self.cross_language:
            return self.dense >= CROSS_LANGUAGE_DENSE
        floor = MIN_DENSE_BY_LANG.get(self.lang, MIN_DENSE)
        return self.dense >= floor and self.coverage >= MIN_COVERAGE and self.score >= ANSWER_SCORE


def by_coverage(question: str, units: Sequence[Unit], tokenizer: Tokenizer) -> list[Scored]:
    """`units` with their coverage of `question` (no dense similarity yet), best coverage first; units
    in the chunks retrieval matched break ties, then rank and position."""
    query = content_terms(tokenizer, question)
    terms = [content_terms(tokenizer, unit.text) for unit in units]
    weights = term_weights(query, terms)
    lang = detect_lang(question)
    scored = [
        Scored(unit, coverage(weights, t), None, lang, detect_lang(unit.text) != lang)
        for unit, t in zip(units, terms, strict=True)
    ]
    return sorted(
        scored, key=lambda s: (-round(s.coverage, 9), not s.unit.in_chunk, s.unit.rank, s.unit.position)
    )


def shortlist(question: str, units: Sequence[Unit], tokenizer: Tokenizer) -> list[Scored]:
    """The `SHORTLIST` units worth embedding: the best by coverage (ties: in the matched chunk, better
    rank, earlier), so the dense similarity is paid for a few dozen short texts per question."""
    return by_coverage(question, units, tokenizer)[:SHORTLIST]


def with_dense(scored: Sequence[Scored], similarity: Mapping[str, float] | None) -> list[Scored]:
    """`scored` with the dense similarity of each unit's text (as given), best score first."""
    if similarity is not None:
        scored = [replace(s, dense=similarity.get(s.unit.text)) for s in scored]
    return sorted(scored, key=lambda s: (-s.score, s.unit.rank, s.unit.position))
