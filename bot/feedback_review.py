"""What the admins review on the App Home: the share of 👍, the questions that found nothing and the
worst-rated answers of the last days, from the vote log and the log of unanswered questions."""

from __future__ import annotations

from pydantic import BaseModel

from bot.feedback import REASONS, AnswerRecord, CitedSource, Reason, Vote
from knowledge import keys
from knowledge.kv.base import KeyValue

DAYS = 30
SHOWN = 5  # worst-rated answers shown
UNANSWERED_SHOWN = 10


class RatedAnswer(BaseModel):
    """One answer with each voter's latest vote counted."""

    answer_id: str
    question: str
    answer: str
    citations: list[CitedSource]
    up: int = 0
    down: int = 0
    reasons: list[Reason] = []
    at: float  # its latest vote


class FeedbackReview(BaseModel):
    """The last `DAYS` days of feedback."""

    up: int
    down: int
    worst: list[RatedAnswer]
    unanswered: list[AnswerRecord]

    @property
    def share_up(self) -> float | None:
        """👍 among the votes; None without votes."""
        votes = self.up + self.down
        return self.up / votes if votes else None

    def reasons_of(self, answer: RatedAnswer) -> str:
        """The reasons given for an answer's 👎, as people read them."""
        return ", ".join(REASONS[r] for r in dict.fromkeys(answer.reasons))


async def review(store: KeyValue, now: float, days: int = DAYS) -> FeedbackReview:
    """The feedback of the last `days` days: each person's latest vote on each answer counts once."""
    since = now - days * 86400
    latest: dict[tuple[str, str], Vote] = {}
    for item in await store.items(keys.feedback_log()):
        vote = Vote.model_validate_json(item)
        if vote.at >= since:
            latest[(vote.answer_id, vote.user)] = vote
    rated: dict[str, RatedAnswer] = {}
    for vote in latest.values():
        entry = rated.setdefault(
            vote.answer_id,
            RatedAnswer(
                answer_id=vote.answer_id,
                question=vote.question,
                answer=vote.answer,
                citations=vote.citations,
                at=vote.at,
            ),
        )
        entry.at = max(entry.at, vote.at)
        if vote.vote == "up":
            entry.up += 1
        else:
            entry.down += 1
            entry.reasons += [vote.reason] if vote.reason else []
    worst = sorted((r for r in rated.values() if r.down), key=lambda r: (r.up - r.down, -r.down, -r.at))
    unanswered = [
        record
        for record in map(AnswerRecord.model_validate_json, await store.items(keys.unanswered_log()))
        if record.at >= since
    ]
    return FeedbackReview(
        up=sum(r.up for r in rated.values()),
        down=sum(r.down for r in rated.values()),
        worst=worst[:SHOWN],
        unanswered=unanswered[::-1][:UNANSWERED_SHOWN],
    )
