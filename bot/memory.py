"""Conversation memory per Slack thread: the turns so far, with a TTL and a token cap, in the shared store.

Every replica reads and writes the same list in Redis, so a follow-up answered by another replica still
sees the thread; embedded mode keeps it in-process with the same rules.

Each turn remembers the grants it was answered under. A follow-up only sees the turns whose grants its own
readers hold all of: text written for readers who could read more (a channel that became public, a member
who joined, a revoked reader) never reaches the rewriter, the prompt or the LLM again.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from knowledge import keys
from knowledge.access import Principal
from knowledge.kv.base import KeyValue
from knowledge.tokens import count_tokens, truncate_tokens

MAX_TURNS = 20  # a hard cap beside the token cap: old turns matter little to a follow-up


class ThreadRef(BaseModel):
    """Where a conversation lives: one Slack thread."""

    model_config = ConfigDict(frozen=True)

    team: str
    channel: str
    thread_ts: str


class Turn(BaseModel):
    """One question and its answer. `standalone` is the question as retrieval saw it; `grants` what the
    answer's readers held (None: unknown, from before grants were kept, so never shown again)."""

    question: str
    standalone: str
    answer: str
    grants: list[str] | None = None
    at: float = 0.0

    def readable_by(self, reader: Principal) -> bool:
        """True when `reader` holds every grant this turn was answered under."""
        return self.grants is not None and reader.grants.issuperset(self.grants)

    def tokens(self) -> int:
        """What this turn costs of the cap."""
        return count_tokens(self.standalone) + count_tokens(self.answer)


class ConversationMemory:
    """The turns of each thread, newest last, under `lore:memory:*`."""

    def __init__(self, store: KeyValue, *, ttl: int, max_tokens: int) -> None:
        self.store = store
        self.ttl = ttl
        self.max_tokens = max_tokens

    @staticmethod
    def _key(thread: ThreadRef) -> str:
        return keys.memory(thread.team, thread.channel, thread.thread_ts)

    async def turns(self, thread: ThreadRef) -> list[Turn]:
        """The remembered turns, oldest first (empty for a new or expired thread)."""
        return [Turn.model_validate_json(item) for item in await self.store.items(self._key(thread))]

    async def history(self, thread: ThreadRef, reader: Principal) -> list[tuple[str, str]]:
        """(standalone question, answer) pairs that `reader` may see: what the answerer and the rewriter
        take. Turns answered for readers who held more are left out."""
        return [(t.standalone, t.answer) for t in await self.turns(thread) if t.readable_by(reader)]

    async def knows(self, thread: ThreadRef) -> bool:
        """True when Lore has answered in this thread (so follow-ups need no mention)."""
        return bool(await self.store.items(self._key(thread)))

    async def add(self, thread: ThreadRef, turn: Turn) -> None:
        """Remember a turn, then drop the oldest turns until the thread fits the token cap."""
        half = max(1, self.max_tokens // 2)
        turn = turn.model_copy(
            update={
                "standalone": truncate_tokens(turn.standalone, half),
                "answer": truncate_tokens(turn.answer, half),
                "at": turn.at or time.time(),
            }
        )
        key = self._key(thread)
        await self.store.push(key, turn.model_dump_json(), self.ttl, MAX_TURNS)
        kept, total = 0, 0
        for item in reversed(await self.turns(thread)):
            total += item.tokens()
            if total > self.max_tokens and kept:
                break
            kept += 1
        await self.store.keep_last(key, kept)
