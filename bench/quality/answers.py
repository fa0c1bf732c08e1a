"""Answer quality without an LLM (the embedded default: extractive answers), as `{public}`.

- *Text questions* (the handbook's dev types, follow-ups asked in their thread): the share of answers whose
  text holds a gold evidence span (normalised like `bench.common.normalise`, matched like the retrieval
  rule), and the share that got `no_answer` wrongly.
- *Questions the sources cannot answer* (our off-topic ones; the `multimodal` dev questions, whose answer is
  only in an image not shipped): the share answered `no_answer`; where the dataset gives an answer (the
  multimodal ones, whose page text sometimes says it too), also the share answered `no_answer` or with an
  answer that quotes it.
- *Across languages* (ours: Chinese questions about English pages and the reverse): the right document
  cited, or `no_answer` in the asker's language; anything else is an unrelated answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from bench.common import normalise
from bench.quality.cases import Case, CrossCase
from bench.quality.rule import holds, renderings, unlinked
from bench.quality.thread import Threads
from knowledge.access import Principal
from knowledge.models import Answer
from knowledge.service import Knowledge
from knowledge.sparse import detect_lang

_MARKER = re.compile(r"\[\d+\]")


class AnswerRow(BaseModel):
    """One line of the answer-quality table: a set of questions and the shares that matter for it."""

    questions: str
    n: int
    holds_evidence: float | None = None
    no_answer: float
    no_answer_or_quoted: float | None = None
    right_document: float | None = None
    unrelated: float | None = None


def holds_span(answer: Answer, case: Case) -> bool:
    """True when the answer's text (citation markers removed) holds one of the case's gold spans."""
    texts = renderings(_MARKER.sub(" ", answer.answer))
    return any(holds(normalise(unlinked(span)), texts) for spans in case.gold.values() for span in spans)


async def ask(kb: Knowledge, threads: Threads, question: str, asked: Sequence[str] = ()) -> Answer:
    """Lore's answer to `question` after `asked` in the same thread (none: a fresh question)."""
    history = await threads.history(list(asked))
    return await kb.ask(question, threads.principal, history, federate=False)


async def text_questions(kb: Knowledge, cases: Sequence[Case], label: str) -> AnswerRow:
    """Shares of answers holding a gold span and of wrong `no_answer`s."""
    threads = Threads(kb, Principal.anonymous())
    answers = [(case, await ask(kb, threads, case.question, case.history)) for case in cases]
    return AnswerRow(
        questions=label,
        n=len(answers),
        holds_evidence=sum(holds_span(a, c) for c, a in answers) / len(answers),
        no_answer=sum(a.mode == "no_answer" for _, a in answers) / len(answers),
    )


def quotes(answer: Answer, expected: str | None) -> bool:
    """True when the answer's text holds `expected` (normalised words, in order)."""
    wanted = " ".join(normalise(expected or ""))
    return bool(wanted) and f" {wanted} " in f" {' '.join(normalise(answer.answer))} "


async def unanswerable(
    kb: Knowledge, questions: Sequence[str], label: str, known: Mapping[str, str] | None = None
) -> AnswerRow:
    """The share of `questions` answered `no_answer` (all of them should be); with `known` (question ->
    the dataset's answer) also the share answered `no_answer` or with that answer quoted."""
    threads = Threads(kb, Principal.anonymous())
    got = [(q, await ask(kb, threads, q)) for q in questions]
    n = len(got)
    refused = sum(a.mode == "no_answer" for _, a in got)
    quoted = sum(a.mode != "no_answer" and quotes(a, (known or {}).get(q)) for q, a in got)
    return AnswerRow(
        questions=label,
        n=n,
        no_answer=refused / n,
        no_answer_or_quoted=(refused + quoted) / n if known else None,
    )


def outcome(answer: Answer, case: CrossCase) -> str:
    """ "right", "no_answer" (in the asker's language), "no_answer, other language" or "unrelated"."""
    if answer.mode == "no_answer":
        return "no_answer" if detect_lang(answer.answer) == case.lang else "no_answer, other language"
    return "right" if any(c.doc_id in case.gold for c in answer.citations) else "unrelated"


async def cross_language(kb: Knowledge, cases: Sequence[CrossCase], label: str) -> AnswerRow:
    """Shares of right documents, honest `no_answer`s and unrelated answers."""
    threads = Threads(kb, Principal.anonymous())
    counts = Counter([outcome(await ask(kb, threads, c.question), c) for c in cases])
    n = len(cases)
    return AnswerRow(
        questions=label,
        n=n,
        no_answer=counts["no_answer"] / n,
        right_document=counts["right"] / n,
        unrelated=(counts["unrelated"] + counts["no_answer, other language"]) / n,
    )
