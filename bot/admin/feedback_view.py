"""The admins' feedback review on the App Home: share of 👍, unanswered questions, worst-rated answers.

An admin sees an answer's sources only where they may read them, and its text only when they may read
every source it cites (the text is made of them); a source they may not read is left out without a trace
(no title, no link, no count).
"""

from __future__ import annotations

import logging

from bot.admin.views import Block, ago
from bot.feedback_review import DAYS, FeedbackReview, RatedAnswer
from bot.mrkdwn import clip, escape, link
from knowledge.access import Principal
from knowledge.index.base import Index, IndexUnavailable

log = logging.getLogger(__name__)

SECTION_CHARS = 3000
QUESTION_CHARS = 150
ANSWER_CHARS = 300
Doc = tuple[str, str]  # (source id, doc id)


async def readable_citations(review: FeedbackReview, principal: Principal, index: Index) -> set[Doc]:
    """The documents cited by the reviewed answers that `principal` may read now (unknown: not readable)."""
    cited = {(c.source, c.doc_id) for answer in review.worst for c in answer.citations}
    readable: set[Doc] = set()
    for source, doc_id in sorted(cited):
        try:
            if await index.document_chunks(source, doc_id, principal.sorted()):
                readable.add((source, doc_id))
        except IndexUnavailable as exc:
            log.warning("cannot tell whether a cited document is readable: %s", exc)
    return readable


def feedback_blocks(review: FeedbackReview | None, readable: set[Doc], now: float) -> list[Block]:
    """The review's blocks (a few sections); None: the feedback could not be read."""
    head = _section(f"*Feedback, last {DAYS} days*")
    if review is None:
        return [head, _context("I can't read the feedback right now: try again in a minute.")]
    share = review.share_up
    votes = review.up + review.down
    summary = (
        f"👍 {share:.0%} of {votes} vote{'s' * (votes != 1)} ({review.up} 👍 · {review.down} 👎)"
        if share is not None
        else "No votes yet."
    )
    blocks = [head, _context(summary)]
    if review.worst:
        lines = ["*Lowest rated*"] + [_rated(answer, readable, review, now) for answer in review.worst]
        blocks.append(_section(_fit(lines)))
    if review.unanswered:
        lines = [f"*Not answered* (the last {len(review.unanswered)})"] + [
            f"• {escape(clip(r.question, QUESTION_CHARS))} · {ago(r.at, now)}" for r in review.unanswered
        ]
        blocks.append(_section(_fit(lines)))
    return blocks


def _rated(answer: RatedAnswer, readable: set[Doc], review: FeedbackReview, now: float) -> str:
    why = f" ({reasons})" if (reasons := review.reasons_of(answer)) else ""
    line = f"• {escape(clip(answer.question, QUESTION_CHARS))} · 👍 {answer.up} · 👎 {answer.down}{why}"
    line += f" · {ago(answer.at, now)}"
    shown = [c for c in answer.citations if (c.source, c.doc_id) in readable]
    if len(shown) == len(answer.citations) and answer.answer:
        line += f"\n   > {escape(clip(answer.answer, ANSWER_CHARS))}"
    if shown:
        line += "\n   Sources: " + " · ".join(f"[{c.n}] {link(c.url, c.title)}" for c in shown)
    return line


def _fit(lines: list[str]) -> str:
    """As many whole lines as fit in a section."""
    text = lines[0]
    for line in lines[1:]:
        if len(text) + len(line) + 1 > SECTION_CHARS:
            break
        text += "\n" + line
    return text


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_CHARS]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_CHARS]}]}
