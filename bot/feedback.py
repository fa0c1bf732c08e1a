"""👍/👎 on answers: what was asked and answered is kept with each answer, and every vote is recorded (a 👎
with its optional reason). Answers that found nothing are logged too, for the admins' review."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel

from knowledge import keys
from knowledge.kv.base import KeyValue
from knowledge.metrics import Metrics
from knowledge.models import AnswerMode, Citation

RECORD_TTL = 90 * 24 * 3600  # seconds an answer can still be rated
LOG_ITEMS = 10_000  # votes kept in the review log

VoteValue = Literal["up", "down"]
Reason = Literal["wrong", "outdated", "not_found", "other"]
REASONS: dict[Reason, str] = {
    "wrong": "Wrong",
    "outdated": "Outdated",
    "not_found": "Didn't find it",
    "other": "Other",
}


class CitedSource(BaseModel):
    """A citation as feedback keeps it."""

    n: int
    source: str
    doc_id: str
    title: str
    url: str


class AnswerRecord(BaseModel):
    """One answer as it was given, so that a vote on it says what it was about."""

    answer_id: str
    team: str
    channel: str
    thread_ts: str
    user: str
    question: str
    standalone: str
    answer: str
    mode: AnswerMode
    citations: list[CitedSource]
    at: float
    share_to: str | None = None  # a private answer the asker may share in this channel (and thread)
    share_thread: str | None = None


class Vote(BaseModel):
    """One person's 👍 or 👎 on one answer, with the question, answer and citations it judged."""

    answer_id: str
    user: str
    vote: VoteValue
    at: float
    question: str = ""
    answer: str = ""
    citations: list[CitedSource] = []
    reason: Reason | None = None  # why a 👎, when the person said


def cited(citations: list[Citation]) -> list[CitedSource]:
    """Citations without their snippets and scores."""
    return [CitedSource(n=c.n, source=c.source, doc_id=c.doc_id, title=c.title, url=c.url) for c in citations]


class Feedback:
    """Answer records under `lore:answer:*`, votes under `lore:feedback:*` and the `lore:feedback` log."""

    def __init__(self, store: KeyValue, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or Metrics()

    async def remember(self, record: AnswerRecord) -> None:
        """Keep an answer so that it can be rated for 90 days (and log it when it found nothing)."""
        await self.store.set(keys.answer(record.answer_id), record.model_dump_json(), RECORD_TTL)
        if record.mode == "no_answer":
            await self.store.push(keys.unanswered_log(), record.model_dump_json(), RECORD_TTL, LOG_ITEMS)

    async def record(self, answer_id: str, user: str, vote: VoteValue) -> Vote:
        """Record a vote (a later vote of the same person counts instead of their earlier one: Slack does
        not report a second click that undoes the first, so the last click is the vote)."""
        entry = await self._keep(answer_id, user, vote, None)
        self.metrics.feedback.labels(vote=vote).inc()
        return entry

    async def explain(self, answer_id: str, user: str, reason: Reason) -> Vote:
        """Why someone voted 👎: kept as their latest vote, still a 👎 (not counted a second time)."""
        return await self._keep(answer_id, user, "down", reason)

    async def _keep(self, answer_id: str, user: str, vote: VoteValue, reason: Reason | None) -> Vote:
        raw = await self.store.get(keys.answer(answer_id))
        record = AnswerRecord.model_validate_json(raw) if raw else None
        entry = Vote(
            answer_id=answer_id,
            user=user,
            vote=vote,
            at=time.time(),
            question=record.question if record else "",
            answer=record.answer if record else "",
            citations=record.citations if record else [],
            reason=reason,
        )
        await self.store.push(keys.feedback(answer_id), entry.model_dump_json(), RECORD_TTL, 1000)
        await self.store.push(keys.feedback_log(), entry.model_dump_json(), RECORD_TTL, LOG_ITEMS)
        return entry

    async def votes(self, answer_id: str) -> list[Vote]:
        """The latest vote of each person on an answer."""
        latest: dict[str, Vote] = {}
        for item in await self.store.items(keys.feedback(answer_id)):
            vote = Vote.model_validate_json(item)
            latest[vote.user] = vote
        return list(latest.values())
